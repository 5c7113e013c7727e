#!/usr/bin/env node
// `npm run dev:worker -- --port N`: the worker in workerd (wrangler dev --local) on
// 127.0.0.1:N, reaching the PostgreSQL of DATABASE_URL through the local Hyperdrive binding.
// Migrate first: `DATABASE_URL=… npm run db:migrate`. Configuration variables set in the
// environment (ISSUER, REFRESH_REUSE_GRACE, …) are passed to the worker; MASTER_SECRET
// defaults to the development one Node keeps in DATA_DIR, so both runtimes share the keys.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const portIndex = args.indexOf('--port');
const port = portIndex >= 0 ? args[portIndex + 1] : '8787';
const rest = portIndex >= 0 ? args.filter((_, i) => i !== portIndex && i !== portIndex + 1) : args;

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('dev:worker needs DATABASE_URL=postgres://… (migrated with npm run db:migrate)');
  process.exit(78);
}
// Hyperdrive's local connection string must carry a password, even for trust auth.
const url = new URL(databaseUrl);
if (!url.password) url.password = 'unused';

const dataDir = process.env.DATA_DIR ?? './.data';
let masterSecret = process.env.MASTER_SECRET;
if (!masterSecret) {
  const file = join(dataDir, 'master-secret');
  try {
    masterSecret = readFileSync(file, 'utf8').trim();
  } catch {
    masterSecret = randomBytes(48).toString('base64url');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, masterSecret, { mode: 0o600 });
  }
}

const vars = {
  NODE_ENV: 'development',
  ISSUER: `http://127.0.0.1:${port}`,
  LOG_LEVEL: 'info',
  MASTER_SECRET: masterSecret,
};
const PASSED =
  /^(ISSUER|AUDIENCE|NODE_ENV|LOG_LEVEL|ALLOWED_ORIGINS|REFRESH_REUSE_GRACE|REGISTRATIONS_PER_IP|ARGON2_\w+|ACCESS_TOKEN_TTL|REFRESH_TOKEN_TTL|SESSION_\w+|MAX_SESSIONS_PER_USER|LOGIN_FAILURE\w*|MFA_FAILURE\w*|PASSWORD_MIN_SCORE|SIGNING_ALG|KEY_PREPUBLICATION|INTROSPECTION_CLIENTS|METRICS_TOKEN)$/;
for (const [name, value] of Object.entries(process.env)) if (PASSED.test(name) && value) vars[name] = value;

const child = spawn(
  process.execPath,
  [
    'node_modules/wrangler/bin/wrangler.js',
    'dev',
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    port,
    // Each worker its own inspector port, so several can run side by side.
    ...(rest.includes('--inspector-port') ? [] : ['--inspector-port', String(Number(port) + 10000)]),
    '--persist-to',
    join(dataDir, `wrangler-${port}`),
    ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ...rest,
  ],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: url.toString(),
    },
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 1));
