import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRET } from '../src/config/sources.js';
import { EnvSchema, parseConfig } from '../src/config.js';
import { MASK, maskUrl, showConfigCommand } from '../src/entry/cli/config-show.js';
import { TEST_MASTER_SECRET } from './support/harness.js';

/** `config:show` (issue #19): variable names, values, where each came from; never a secret. */

const DB_PASSWORD = 'Db-Pa55word-that-must-not-leak';
const SMTP_PASSWORD = 'smtp-Pa55word-that-must-not-leak';
const INTROSPECTION_SECRET = 'introspection-secret-0123456789abcdef-XYZ';
const METRICS_TOKEN = 'metrics-token-0123456789abcdef-0123456789';
const MAIL_TOKEN = 'mail-token-0123456789abcdef';

const secretEnv = {
  NODE_ENV: 'test',
  MASTER_SECRET: TEST_MASTER_SECRET,
  DATABASE_URL: `postgres://latchkey:${DB_PASSWORD}@db.internal:5432/latchkey_prod?sslmode=require`,
  SMTP_URL: `smtps://mailer:${encodeURIComponent(SMTP_PASSWORD)}@smtp.example.com:465`,
  INTROSPECTION_CLIENTS: `orders-api:${INTROSPECTION_SECRET},billing:${INTROSPECTION_SECRET.toUpperCase()}`,
  METRICS_TOKEN,
  MAIL_HTTP_TOKEN: MAIL_TOKEN,
  ACCESS_TOKEN_TTL: '600',
};
const SECRETS = [
  TEST_MASTER_SECRET,
  DB_PASSWORD,
  SMTP_PASSWORD,
  INTROSPECTION_SECRET,
  METRICS_TOKEN,
  MAIL_TOKEN,
];

const show = (env: Record<string, string | undefined>, json: boolean) => {
  const lines: string[] = [];
  const text = showConfigCommand({ config: parseConfig(env), env, out: (line) => lines.push(line), json });
  expect(lines).toEqual([text]);
  return text;
};

const expectNoSecret = (text: string) => {
  for (const secret of SECRETS) {
    expect(text).not.toContain(secret);
    expect(text.toLowerCase()).not.toContain(secret.toLowerCase());
    expect(text).not.toContain(encodeURIComponent(secret));
  }
};

describe('config:show', () => {
  it('--json: each variable by its name, its value and its source; secrets say only "(set)"', () => {
    const text = show(secretEnv, true);
    expectNoSecret(text);
    const shown = JSON.parse(text);
    expect(shown).toMatchObject({
      NODE_ENV: { value: 'test', source: 'environment' },
      ACCESS_TOKEN_TTL: { value: 600, source: 'environment' },
      REFRESH_TOKEN_TTL: { value: 2592000, source: 'default' },
      ISSUER: { value: 'http://localhost:3000', source: 'default', note: 'from PORT' },
      MASTER_SECRET: { value: '(set)', source: 'environment' },
      METRICS_TOKEN: { value: '(set)', source: 'environment' },
      MAIL_HTTP_TOKEN: { value: '(set)', source: 'environment' },
      DATABASE_URL: {
        value: `postgres://latchkey:${MASK}@db.internal:5432/latchkey_prod?sslmode=require`,
        source: 'environment',
      },
      SMTP_URL: { value: `smtps://mailer:${MASK}@smtp.example.com:465`, source: 'environment' },
      INTROSPECTION_CLIENTS: { value: [`orders-api:${MASK}`, `billing:${MASK}`], source: 'environment' },
      TRUSTED_IP_HEADER: { value: null, source: 'not set' },
    });
    // Variable names only: no camelCase key of the parsed configuration.
    expect(Object.keys(shown).every((name) => /^[A-Z][A-Z0-9_]*$/.test(name))).toBe(true);
    expect(shown).not.toHaveProperty('accessTokenTtlSeconds');
  });

  it('without MASTER_SECRET: the development secret is named as such, never "(not set)", and not printed', () => {
    const env = { NODE_ENV: 'development', DATA_DIR: '/srv/latchkey' };
    const shown = JSON.parse(show(env, true));
    expect(shown.MASTER_SECRET).toEqual({
      value: DEVELOPMENT_SECRET,
      source: 'development fallback',
      note: 'generated once and kept in /srv/latchkey/master-secret',
    });
    expect(DEVELOPMENT_SECRET).toBe('(development secret: set MASTER_SECRET in production)');
    expect(shown.METRICS_TOKEN).toMatchObject({ value: null, source: 'not set' });
    expect(shown.INTROSPECTION_CLIENTS).toEqual({ value: [], source: 'default' });
  });

  it('prints a table by default: name, value, source', () => {
    const text = show(secretEnv, false);
    expectNoSecret(text);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^VARIABLE\s+VALUE\s+SOURCE$/);
    const row = (name: string) => lines.find((line) => line.startsWith(`${name} `))?.replace(/\s+/g, ' ');
    expect(row('ACCESS_TOKEN_TTL')).toBe('ACCESS_TOKEN_TTL 600 environment');
    expect(row('REFRESH_TOKEN_TTL')).toBe('REFRESH_TOKEN_TTL 2592000 default');
    expect(row('MASTER_SECRET')).toBe('MASTER_SECRET (set) environment');
    expect(row('INTROSPECTION_CLIENTS')).toBe(
      `INTROSPECTION_CLIENTS orders-api:${MASK},billing:${MASK} environment`,
    );
    expect(row('ISSUER')).toBe('ISSUER http://localhost:3000 default: from PORT');
    expect(row('COUNTRY_HEADER')).toBe('COUNTRY_HEADER (not set) not set');
    expect(row('LOCATION_HEADERS')).toBe('LOCATION_HEADERS (none) default');
    expect(lines).toHaveLength(1 + Object.keys(EnvSchema.shape).length);
    const dev = show({ DATA_DIR: '/srv/latchkey' }, false);
    expect(dev).toContain(DEVELOPMENT_SECRET);
    expect(dev).toMatch(/development fallback: generated once and kept in \/srv\/latchkey\/master-secret/);
  });

  it('a secret that also turns up in another value is masked there too', () => {
    const env = { ...secretEnv, TOTP_ISSUER: `Acme ${METRICS_TOKEN}` };
    const text = show(env, true);
    expectNoSecret(text);
    expect(JSON.parse(text).TOTP_ISSUER.value).toBe(`Acme ${MASK}`);
  });

  it('masks a connection URL password wherever it is, encoded or not', () => {
    expect(maskUrl('postgres://app:p%40ss%2Fw0rd@db:5432/app').masked).toBe(
      `postgres://app:${MASK}@db:5432/app`,
    );
    expect(maskUrl('postgresql://db.example.com/app').masked).toBe('postgresql://db.example.com/app');
    expect(maskUrl('postgres://app@db/app?password=hunter2hunter2').masked).toBe(
      `postgres://app@db/app?password=${encodeURIComponent(MASK)}`,
    );
    // A user name equal to the password would give it away.
    expect(maskUrl('postgres://postgres:postgres@localhost/app').masked).toBe(
      `postgres://${MASK}:${MASK}@localhost/app`,
    );
    // A multi-host URL the WHATWG parser refuses is masked by hand.
    const multi = maskUrl(`postgres://app:${DB_PASSWORD}@h1:5432,h2:5432/app`).masked;
    expect(multi).not.toContain(DB_PASSWORD);
    expect(multi).toContain(`app:${MASK}@h1:5432,h2:5432/app`);
  });
});

describe('config:show, the process', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'latchkey-config-show-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  const run = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/entry/cli.ts', ...args],
        // Not the test's own environment: only what the command is meant to see.
        { cwd: root, env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, ...env }, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  it('exits 0 and prints the variables of its environment, secrets masked; --json parses', async () => {
    const env = { ...secretEnv, LOG_LEVEL: 'silent', TOTP_ISSUER: 'Acme' };
    const [table, json] = await Promise.all([run(['config:show'], env), run(['config:show', '--json'], env)]);
    for (const result of [table, json]) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expectNoSecret(result.stdout);
    }
    expect(table.stdout).toMatch(/^TOTP_ISSUER +Acme +environment$/m);
    expect(JSON.parse(json.stdout)).toMatchObject({
      DATA_DIR: { value: dataDir, source: 'environment' },
      TOTP_ISSUER: { value: 'Acme', source: 'environment' },
      MASTER_SECRET: { value: '(set)', source: 'environment' },
      DATABASE_URL: { value: `postgres://latchkey:${MASK}@db.internal:5432/latchkey_prod?sslmode=require` },
    });
  });

  it('warns on stderr about a misspelt variable, and shows the value the server will use', async () => {
    const result = await run(['config:show', '--json'], { NODE_ENV: 'test', ACCES_TOKEN_TTL: '60' });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      'ACCES_TOKEN_TTL is not a Latchkey variable and is ignored; did you mean ACCESS_TOKEN_TTL?',
    );
    const shown = JSON.parse(result.stdout);
    expect(shown.ACCESS_TOKEN_TTL).toEqual({ value: 900, source: 'default' });
    expect(shown.MASTER_SECRET).toMatchObject({ value: DEVELOPMENT_SECRET, source: 'development fallback' });
  });
});
