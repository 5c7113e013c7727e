#!/usr/bin/env node
// `npm run dev:worker -- --port N`: the worker in workerd (wrangler dev --local) on
// 127.0.0.1:N, reaching the PostgreSQL of DATABASE_URL through the local Hyperdrive binding.
// Migrate first: `DATABASE_URL=… npm run db:migrate`. Every configuration variable set in the
// environment (every name of EnvSchema in src/config.ts) is passed to the worker; a misspelt
// one is warned about as the server does. MASTER_SECRET defaults to the development one Node
// keeps in DATA_DIR, so both runtimes share the keys.
//
// The variables go to wrangler in an env file (--env-file) written with mode 0600 in a private
// temporary folder and removed when wrangler exits: never on its command line, where `ps`
// would show MASTER_SECRET to every user of the machine.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

/** @type {typeof import('../src/config.ts')} */
const { ConfigError, EnvSchema, parseConfig, presentVariables, unknownVariableWarnings } = await tsImport(
  '../src/config.ts',
  import.meta.url,
);

/** Every variable the configuration reads: the one list, the schema's. */
export const KNOWN_VARIABLES = Object.keys(EnvSchema.shape);

/**
 * The worker's variables: development defaults (NODE_ENV, ISSUER on the worker's own address,
 * LOG_LEVEL), then every known variable set (not empty) in `env`, then MASTER_SECRET (from
 * `env`, or `masterSecret`). Unknown names are not passed; `warnings` says which look meant.
 * @param {Record<string, string | undefined>} env
 * @param {{ port: string, masterSecret: string }} options
 */
export function collectWorkerVariables(env, { port, masterSecret }) {
  const present = presentVariables(env);
  /** @type {Record<string, string>} */
  const vars = { NODE_ENV: 'development', ISSUER: `http://127.0.0.1:${port}`, LOG_LEVEL: 'info' };
  for (const name of KNOWN_VARIABLES) if (Object.hasOwn(present, name)) vars[name] = present[name];
  vars.MASTER_SECRET = present.MASTER_SECRET ?? masterSecret;
  return { vars, warnings: unknownVariableWarnings(env) };
}

/**
 * One `NAME=value` line as wrangler's dotenv reads it back exactly: quoted (single quotes,
 * else backticks, else double quotes) and every `$` escaped, since wrangler expands `$NAME`
 * in env files (dotenv-expand). test/dev-worker.test.ts reads each form back with wrangler.
 * @param {string} name
 * @param {string} value
 */
export function envFileLine(name, value) {
  if (/[\r\n]/.test(value))
    throw new Error(`${name}: a value on several lines cannot be passed to the worker`);
  const escaped = value.replaceAll('$', '\\$');
  if (!escaped.includes("'")) return `${name}='${escaped}'`;
  if (!escaped.includes('`')) return `${name}=\`${escaped}\``;
  // In double quotes dotenv turns \n and \r into line breaks: only when neither is there.
  if (!escaped.includes('"') && !/\\[nr]/.test(escaped)) return `${name}="${escaped}"`;
  throw new Error(`${name}: a value with ', \` and " together cannot be passed to the worker`);
}

/** @param {Record<string, string>} vars */
export const envFileText = (vars) =>
  `${Object.entries(vars)
    .map(([name, value]) => envFileLine(name, value))
    .join('\n')}\n`;

/**
 * wrangler's command line: addresses, folders and the env file's path; no value of a variable.
 * @param {{ port: string, dataDir: string, envFile: string, rest: string[] }} options
 */
export function wranglerArguments({ port, dataDir, envFile, rest }) {
  return [
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
    // Only this file: not .dev.vars, not .env (a project's own would mix in unseen values).
    '--env-file',
    envFile,
    ...rest,
  ];
}

/**
 * The variables in a file only this user can read, in a folder of its own; `remove` deletes
 * both (the caller calls it when wrangler exits).
 * @param {Record<string, string>} vars
 */
export function writeEnvFile(vars) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-dev-worker-')); // mode 0700
  const file = join(dir, 'worker.env');
  writeFileSync(file, envFileText(vars), { mode: 0o600, flag: 'wx' });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The development MASTER_SECRET Node keeps in DATA_DIR (made here first if need be). */
function developmentMasterSecret(dataDir) {
  const file = join(dataDir, 'master-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(48).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    return readFileSync(file, 'utf8').trim();
  }
}

function main() {
  const args = process.argv.slice(2);
  const portIndex = args.indexOf('--port');
  const port = portIndex >= 0 ? args[portIndex + 1] : '8787';
  const rest = portIndex >= 0 ? args.filter((_, i) => i !== portIndex && i !== portIndex + 1) : args;
  if (!port || !/^\d{1,5}$/.test(port)) {
    console.error('dev:worker: --port takes a port number');
    process.exit(64);
  }
  if (rest.some((arg) => arg === '--var' || arg.startsWith('--var='))) {
    console.error('dev:worker: set variables in the environment, not with --var (ps shows a command line)');
    process.exit(64);
  }

  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error('dev:worker needs DATABASE_URL=postgres://… (migrated with npm run db:migrate)');
    process.exit(78);
  }
  // Hyperdrive's local connection string must carry a password, even for trust auth.
  const url = new URL(databaseUrl);
  if (!url.password) url.password = 'unused';

  const dataDir = process.env.DATA_DIR || './.data';
  const masterSecret = process.env.MASTER_SECRET || developmentMasterSecret(dataDir);
  const { vars, warnings } = collectWorkerVariables(process.env, { port, masterSecret });
  for (const warning of warnings) console.error(`warning: ${warning}`);
  try {
    // The worker checks the same strings at its first request: fail here, before starting.
    parseConfig(vars);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }

  const envFile = writeEnvFile(vars);
  let child;
  try {
    child = spawn(process.execPath, wranglerArguments({ port, dataDir, envFile: envFile.file, rest }), {
      stdio: 'inherit',
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        // The env file is read (it is off when this is false), and only it: not every
        // variable of this process as a secret of the worker.
        CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'true',
        CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
        CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: url.toString(),
      },
    });
  } catch (error) {
    envFile.remove();
    throw error;
  }
  // Removed however this ends: wrangler exits, a signal, or this process exits.
  process.on('exit', envFile.remove);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    console.error(`dev:worker: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code) => process.exit(code ?? 1));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
