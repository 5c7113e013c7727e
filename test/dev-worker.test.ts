import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unstable_getVarsForDev } from 'wrangler';
import {
  collectWorkerVariables,
  envFileLine,
  envFileText,
  KNOWN_VARIABLES,
  wranglerArguments,
  writeEnvFile,
} from '../scripts/dev-worker.mjs';
import { EnvSchema } from '../src/config.js';
import { onPostgres, throughPooler } from './support/database.js';
import { PASSWORD, uniqueEmail, useDatabase } from './support/harness.js';

/**
 * `npm run dev:worker` (scripts/dev-worker.mjs, issue #19): every configuration variable
 * reaches the worker, and no value reaches wrangler's command line (`ps` shows it).
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const MASTER_SECRET = 'dev-worker-master-secret-0123456789-abcdefghij';

/** What wrangler dev makes of an env file: its own reader (dotenv, then $-expansion). */
const readBack = (file: string) =>
  Object.fromEntries(
    Object.entries(unstable_getVarsForDev(undefined, [file], {}, undefined, true)).map(([name, binding]) => [
      name,
      (binding as { value: string }).value,
    ]),
  );

describe('dev:worker variables', () => {
  it('knows every variable of the configuration schema, from the schema', () => {
    expect(KNOWN_VARIABLES).toEqual(Object.keys(EnvSchema.shape));
  });

  it('passes every known variable set, the ones the old allow-list dropped too; nothing else', () => {
    const env: Record<string, string> = {
      TRUSTED_IP_HEADER: 'cf-connecting-ip',
      COUNTRY_HEADER: 'cf-ipcountry',
      TOTP_ISSUER: 'Acme',
      CLEANUP_INTERVAL: '60',
      CLEANUP_BATCH_SIZE: '100',
      REFRESH_COOKIE_NAME: '__Secure-acme',
      WEBHOOK_TIMEOUT: '5',
      MAIL_HTTP_TOKEN: 'mail-token-0123456789',
      HOME: '/home/dev',
      PATH: '/usr/bin',
      npm_config_cache: '/tmp/npm',
      ACCES_TOKEN_TTL: '60',
      SESSION_TTL: '',
    };
    const { vars, warnings } = collectWorkerVariables(env, { port: '8799', masterSecret: MASTER_SECRET });
    expect(vars).toEqual({
      NODE_ENV: 'development',
      ISSUER: 'http://127.0.0.1:8799',
      LOG_LEVEL: 'info',
      TRUSTED_IP_HEADER: 'cf-connecting-ip',
      COUNTRY_HEADER: 'cf-ipcountry',
      TOTP_ISSUER: 'Acme',
      CLEANUP_INTERVAL: '60',
      CLEANUP_BATCH_SIZE: '100',
      REFRESH_COOKIE_NAME: '__Secure-acme',
      WEBHOOK_TIMEOUT: '5',
      MAIL_HTTP_TOKEN: 'mail-token-0123456789',
      MASTER_SECRET,
    });
    // The same warning the server prints for a misspelt name.
    expect(warnings).toEqual([
      'ACCES_TOKEN_TTL is not a Latchkey variable and is ignored; did you mean ACCESS_TOKEN_TTL?',
    ]);
    // Every name of the schema goes through; the environment wins over the development defaults.
    const all = Object.fromEntries(KNOWN_VARIABLES.map((name) => [name, `value of ${name}`]));
    expect(collectWorkerVariables(all, { port: '8799', masterSecret: 'unused' }).vars).toEqual(all);
  });

  it("puts no value on wrangler's command line: the variables are in a 0600 file, removed after", () => {
    const env = {
      METRICS_TOKEN: randomBytes(24).toString('hex'),
      INTROSPECTION_CLIENTS: `orders:${randomBytes(24).toString('hex')}`,
      MAIL_HTTP_TOKEN: randomBytes(24).toString('hex'),
      DATABASE_URL: `postgres://app:${randomBytes(12).toString('hex')}@db/app`,
      TOTP_ISSUER: 'Acme Widgets',
    };
    const { vars } = collectWorkerVariables(env, { port: '8799', masterSecret: MASTER_SECRET });
    const envFile = writeEnvFile(vars);
    try {
      const argv = wranglerArguments({ port: '8799', dataDir: '.data', envFile: envFile.file, rest: [] });
      const commandLine = argv.join(' ');
      for (const value of Object.values(vars)) {
        if (value.length < 8) continue; // 'info', 'test': words a command line has anyway
        expect(commandLine).not.toContain(value);
      }
      for (const secret of [MASTER_SECRET, env.METRICS_TOKEN, env.MAIL_HTTP_TOKEN])
        expect(commandLine).not.toContain(secret);
      expect(argv).not.toContain('--var');
      expect(argv.slice(argv.indexOf('--env-file'), argv.indexOf('--env-file') + 2)).toEqual([
        '--env-file',
        envFile.file,
      ]);
      expect(statSync(envFile.file).mode & 0o777).toBe(0o600);
      expect(statSync(dirname(envFile.file)).mode & 0o777).toBe(0o700);
      expect(readBack(envFile.file)).toEqual(vars);
    } finally {
      envFile.remove();
    }
    expect(existsSync(dirname(envFile.file))).toBe(false);
  });

  it('writes any value so that wrangler reads back exactly that value', () => {
    const tricky = {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text wrangler would expand
      DOLLAR: 'pa$$word$HOME${PATH}$',
      ESCAPED: 'a\\$b\\\\$c\\',
      SINGLE: "it's",
      DOUBLE: 'say "hi"',
      BACKTICK: "both ' and `",
      ALL_BUT_NEWLINE: '\' and ` and "',
      HASH: 'value # not a comment',
      SPACES: '  padded  ',
      BACKSLASH_N: 'not\\na newline',
      EQUALS: 'a=b=c',
      UNICODE: 'Åcme ✓',
      COMMA_LIST: 'https://a.example, https://b.example',
    };
    const safe = Object.fromEntries(Object.entries(tricky).filter(([name]) => name !== 'ALL_BUT_NEWLINE'));
    const envFile = writeEnvFile(safe);
    try {
      expect(readBack(envFile.file)).toEqual(safe);
    } finally {
      envFile.remove();
    }
    expect(() => envFileLine('ALL', tricky.ALL_BUT_NEWLINE)).toThrow(/cannot be passed/);
    expect(() => envFileLine('MULTI', 'two\nlines')).toThrow(/several lines/);
    expect(envFileText({ A: 'x' })).toBe("A='x'\n");
  });
});

describe('the dev:worker script', () => {
  const run = (env: Record<string, string>, args: string[] = []) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['scripts/dev-worker.mjs', ...args],
        { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
        (error, _stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stderr });
        },
      );
    });

  it('refuses a bad configuration before starting wrangler (exit 78), after the same warnings as the server', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-dev-worker-test-'));
    try {
      const result = await run({
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/none',
        DATA_DIR: dataDir,
        ACCES_TOKEN_TTL: '60',
        ACCESS_TOKEN_TTL: 'soon',
      });
      expect(result.code).toBe(78);
      expect(result.stderr).toContain(
        'warning: ACCES_TOKEN_TTL is not a Latchkey variable and is ignored; did you mean ACCESS_TOKEN_TTL?',
      );
      expect(result.stderr).toContain('ACCESS_TOKEN_TTL: must be a whole number of seconds');
      // The development secret Node keeps in DATA_DIR, shared with the worker.
      expect(readFileSync(join(dataDir, 'master-secret'), 'utf8')).toMatch(/^[\w-]{64}\n$/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('without DATABASE_URL: says what it needs (exit 78); --var is refused (64)', async () => {
    const missing = await run({});
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('dev:worker needs DATABASE_URL');
    const withVar = await run({ DATABASE_URL: 'postgres://postgres@127.0.0.1/x' }, [
      '--var',
      `MASTER_SECRET:${MASTER_SECRET}`,
    ]);
    expect(withVar.code).toBe(64);
  });
});

/** Every process's command line on this machine (Linux /proc), to search for a secret. */
function allCommandLines(): { pid: string; argv: string[] }[] {
  const lines: { pid: string; argv: string[] }[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      lines.push({ pid, argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0') });
    } catch {
      // gone meanwhile
    }
  }
  return lines;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

// The real thing: wrangler dev and workerd on the test's PostgreSQL database (as .ci/worker.sh).
describe.skipIf(!onPostgres || throughPooler || process.platform !== 'linux')('dev:worker in workerd', () => {
  const database = useDatabase();
  const secret = `workerd-master-secret-${randomBytes(16).toString('hex')}`;
  let child: ChildProcess | undefined;
  let port = 0;
  let dataDir = '';
  let log = '';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'latchkey-dev-worker-e2e-'));
    do port = await freePort();
    while (port > 55_000);
    child = spawn(process.execPath, ['scripts/dev-worker.mjs', '--port', String(port)], {
      cwd: root,
      detached: true,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? dataDir,
        DATABASE_URL: database.current.directUrl!,
        DATA_DIR: dataDir,
        MASTER_SECRET: secret,
        NODE_ENV: 'test',
        ALLOWED_ORIGINS: 'https://app.example.com',
        // Outside the old allow-list: dropped before, so the cookie kept its default name.
        REFRESH_COOKIE_NAME: '__Secure-dev_worker_rt',
      },
    });
    child.stdout!.on('data', (chunk) => {
      log += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      log += chunk;
    });
    for (let i = 0; i < 240; i++) {
      const up = await fetch(`http://127.0.0.1:${port}/health`).then(
        (response) => response.ok,
        () => false,
      );
      if (up) return;
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`the worker did not start:\n${log}`);
  }, 180_000);

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('a variable the old allow-list dropped reaches the worker: the refresh cookie has its name', async () => {
    const base = `http://127.0.0.1:${port}`;
    const email = uniqueEmail('dev-worker');
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://app.example.com' },
        body: JSON.stringify(body),
      });
    const registered = await post('/v1/auth/register', { email, password: PASSWORD });
    expect(registered.status, await registered.clone().text()).toBe(201);
    const login = await post('/v1/auth/login', { email, password: PASSWORD, delivery: 'cookie' });
    expect(login.status, await login.clone().text()).toBe(200);
    expect(login.headers.get('set-cookie')).toMatch(/^__Secure-dev_worker_rt=/);
  }, 60_000);

  it('no command line on the machine holds MASTER_SECRET; wrangler reads a 0600 file, gone after exit', async () => {
    const holders = allCommandLines().filter(({ argv }) => argv.some((arg) => arg.includes(secret)));
    expect(holders).toEqual([]);
    const wrangler = allCommandLines().find(
      ({ argv }) => argv.includes('--env-file') && argv.includes(String(port)),
    );
    expect(wrangler, log).toBeDefined();
    const envFile = wrangler!.argv[wrangler!.argv.indexOf('--env-file') + 1]!;
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(envFile, 'utf8')).toContain(`MASTER_SECRET='${secret}'`);

    const exited = new Promise((resolve) => child!.once('exit', resolve));
    process.kill(-child!.pid!, 'SIGTERM');
    await exited;
    expect(existsSync(envFile)).toBe(false);
    expect(existsSync(dirname(envFile))).toBe(false);
  }, 60_000);
});
