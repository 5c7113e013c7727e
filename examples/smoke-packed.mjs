#!/usr/bin/env node
/**
 * Smoke test of the examples as a newcomer would use them, from packed packages:
 *
 *   node examples/smoke-packed.mjs --tarballs <dir> --latchkey <url> [--audience <aud>] [--only <name>] [--keep]
 *
 * <dir> holds latchkey-verify-*.tgz and latchkey-client-*.tgz (`npm pack -w packages/verify
 * -w packages/client --pack-destination <dir>`); <url> is a running Latchkey. For each example
 * it copies the folder to a temp dir, points its `@latchkey/*` dependencies at the tarballs
 * (they are not on a registry yet), `npm install`s (failing on any `npm warn`), starts it with
 * `npm start` on a free port, signs up and logs in against Latchkey for a real token, expects
 * 200 with it and 401 without, stops it and removes the temp dir. Exits 1 on any failure.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const EXAMPLES = ['hono', 'express', 'websocket', 'spa'];
const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    tarballs: { type: 'string' },
    latchkey: { type: 'string' },
    audience: { type: 'string' },
    only: { type: 'string', multiple: true },
    keep: { type: 'boolean', default: false },
  },
});
if (!args.tarballs || !args.latchkey) {
  console.error(
    'usage: smoke-packed.mjs --tarballs <dir> --latchkey <url> [--audience <aud>] [--only <name>]',
  );
  process.exit(2);
}
const latchkey = args.latchkey.replace(/\/+$/, '');
const selected = args.only ?? EXAMPLES;
for (const name of selected) if (!EXAMPLES.includes(name)) throw new Error(`no example ${name}`);

const log = (...parts) => console.log('[smoke-packed]', ...parts);
function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The tarball of a package in --tarballs, by its npm pack file name. */
async function tarball(prefix) {
  const dir = resolve(args.tarballs);
  const found = (await readdir(dir)).filter((file) => file.startsWith(prefix) && file.endsWith('.tgz'));
  check(found.length === 1, `expected one ${prefix}*.tgz in ${dir}, found ${found.length}`);
  return join(dir, found[0]);
}
const tarballs = {
  '@latchkey/verify': await tarball('latchkey-verify-'),
  '@latchkey/client': await tarball('latchkey-client-'),
};

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** Runs a command to its end; rejects with its output on a non-zero exit. */
function run(command, commandArgs, options) {
  return new Promise((done, fail) => {
    const child = spawn(command, commandArgs, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('error', fail);
    child.once('close', (code) =>
      code === 0
        ? done(output)
        : fail(new Error(`${command} ${commandArgs.join(' ')} exited ${code}:\n${output}`)),
    );
  });
}

async function api(path, { method, body, token, base = latchkey, headers = {} } = {}) {
  const response = await fetch(`${base}${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** A user of its own for this run, and a login (a token pair, body delivery). */
const email = `smoke-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
const password = `Smoke-${crypto.randomUUID()}`;
const registered = await api('/v1/auth/register', { body: { email, password } });
check(registered.status === 201, `register at ${latchkey}: ${registered.status} ${registered.text}`);
const userId = registered.json.user.id;
const newLogin = async () => {
  const answer = await api('/v1/auth/login', { body: { email, password } });
  check(answer.status === 200 && answer.json?.access_token, `login: ${answer.status} ${answer.text}`);
  return answer.json;
};
const pair = await newLogin();
const metadata = await api('/.well-known/oauth-authorization-server');
check(metadata.status === 200, `${latchkey}/.well-known/oauth-authorization-server: ${metadata.status}`);
const issuer = metadata.json.issuer;
log(`Latchkey ${latchkey} (issuer ${issuer}); user ${email}`);

/** Copies the example, points @latchkey/* at the tarballs, installs. */
async function prepare(name, dir) {
  await cp(join(here, name), dir, {
    recursive: true,
    filter: (source) => !/[/\\](node_modules|dist|package-lock\.json)$/.test(source),
  });
  const manifestPath = join(dir, 'package.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  for (const [pkg, file] of Object.entries(tarballs)) {
    if (manifest.dependencies?.[pkg]) manifest.dependencies[pkg] = `file:${file}`;
  }
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  const output = await run('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir });
  const warnings = output.split('\n').filter((line) => /^npm warn/i.test(line));
  check(warnings.length === 0, `npm install of examples/${name} warned:\n${warnings.join('\n')}`);
}

/** `npm start` in its own process group (npm, sh, tsx, node), so that stopping it stops them all. */
async function start(dir, env) {
  const port = await freePort();
  const child = spawn('npm', ['start'], {
    cwd: dir,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  let exited;
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  child.once('exit', (code, signal) => {
    exited = `${code ?? signal}`;
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`npm start exited (${exited}):\n${output}`);
    try {
      const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
      if (health.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no /health within 90 s:\n${output}`);
    await new Promise((done) => setTimeout(done, 250));
  }
  const stop = async () => {
    if (exited !== undefined) return;
    const gone = new Promise((done) => child.once('exit', done));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, 5_000);
    await gone;
    clearTimeout(timer);
  };
  return { base, stop, output: () => output };
}

const resourceEnv = {
  LATCHKEY_ISSUER: issuer,
  ...(args.audience ? { LATCHKEY_AUDIENCE: args.audience } : {}),
};

/** hono and express: the same API. */
async function smokeApi(base) {
  const me = await api('/me', { base, token: pair.access_token });
  check(me.status === 200 && me.json?.user_id === userId, `GET /me with a token: ${me.status} ${me.text}`);
  const anonymous = await api('/me', { base });
  check(anonymous.status === 401, `GET /me without a token: ${anonymous.status}`);
  check(
    /^Bearer error="invalid_token"/.test(anonymous.headers.get('www-authenticate') ?? ''),
    'GET /me without a token: no RFC 6750 challenge',
  );
  const payout = await api('/payouts', { base, method: 'POST', token: pair.access_token });
  check(
    payout.status === 401 &&
      /insufficient_user_authentication/.test(payout.headers.get('www-authenticate') ?? ''),
    `POST /payouts with an aal1 token: ${payout.status} (expected a step-up challenge)`,
  );
}

async function smokeWebSocket(base, dir) {
  const { WebSocket } = createRequire(join(dir, 'package.json'))('ws');
  const url = `${base.replace(/^http/, 'ws')}/ws`;
  const connect = (token) =>
    new Promise((done, fail) => {
      const socket = new WebSocket(url, ['latchkey.v1', `latchkey.bearer.${token}`]);
      const closed = new Promise((closedWith) => socket.once('close', (code) => closedWith(code)));
      socket.once('message', (data) => done({ socket, welcome: JSON.parse(String(data)), closed }));
      socket.once('unexpected-response', (_request, response) => {
        response.resume();
        fail(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode }));
      });
      socket.once('error', fail);
    });
  const refused = await connect('not-a-token').then(
    () => undefined,
    (error) => error.status,
  );
  check(refused === 401, `a bad token at the upgrade: ${refused} (expected 401)`);
  // A session of its own, revoked while its socket is open: the socket closes (4401).
  const other = await newLogin();
  const open = await connect(other.access_token);
  check(open.welcome.user_id === userId, `welcome: ${JSON.stringify(open.welcome)}`);
  const out = await api('/v1/auth/logout', { body: { refresh_token: other.refresh_token } });
  check(out.status === 204, `logout: ${out.status}`);
  const code = await Promise.race([
    open.closed,
    new Promise((done) => setTimeout(() => done('timeout'), 20_000)),
  ]);
  if (code === 'timeout') open.socket.terminate();
  check(code === 4401, `the revoked session's socket: ${code} (expected close 4401)`);
}

async function smokeSpa(base) {
  const page = await fetch(`${base}/`);
  check(
    page.status === 200 && /<script type="module" src="\/main.js">/.test(await page.text()),
    `GET /: ${page.status}`,
  );
  check(/script-src 'self'/.test(page.headers.get('content-security-policy') ?? ''), 'GET /: no CSP');
  const bundle = await fetch(`${base}/main.js`);
  check(
    bundle.status === 200 && (await bundle.text()).includes('/v1/auth/login'),
    `GET /main.js: ${bundle.status}`,
  );
  // Latchkey through the site's proxy.
  const me = await api('/v1/users/me', { base, token: pair.access_token });
  check(me.status === 200 && me.json?.user?.email === email, `GET /v1/users/me via the proxy: ${me.status}`);
  const anonymous = await api('/v1/users/me', { base });
  check(anonymous.status === 401, `GET /v1/users/me via the proxy without a token: ${anonymous.status}`);
}

const smokes = {
  hono: { env: resourceEnv, run: smokeApi },
  express: { env: resourceEnv, run: smokeApi },
  websocket: { env: { ...resourceEnv, REVOCATION_CHECK_SECONDS: '1' }, run: smokeWebSocket },
  spa: { env: { LATCHKEY_URL: latchkey }, run: smokeSpa },
};

let failed = 0;
for (const name of selected) {
  let dir;
  let server;
  const began = Date.now();
  try {
    dir = await mkdtemp(join(tmpdir(), `latchkey-example-${name}-`));
    await prepare(name, dir);
    server = await start(dir, smokes[name].env);
    await smokes[name].run(server.base, dir);
    log(`examples/${name}: ok (${((Date.now() - began) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed += 1;
    console.error(`[smoke-packed] examples/${name}: FAILED\n${error.stack ?? error}`);
    if (server) console.error(`--- its output ---\n${server.output()}`);
  } finally {
    await server?.stop();
    if (dir && !args.keep) await rm(dir, { recursive: true, force: true });
    else if (dir) log(`kept ${dir}`);
  }
}
if (failed > 0) {
  console.error(`[smoke-packed] ${failed} of ${selected.length} examples failed`);
  process.exit(1);
}
log(`all ${selected.length} examples ok`);
