#!/usr/bin/env node
// Measures the embedded default (issue #21): the built server (`node dist/entry/serve.cjs`, as `npm run serve`) on a
// fresh DATA_DIR in a temporary folder, then a second start on the same folder. For each start:
// spawn -> first 200 from /health (ms), VmRSS/VmHWM after a few /health requests, and again
// after a register + login (argon2 adds its own memory: the login figure is the realistic idle).
//
//   npx tsc -p tsconfig.build.json && node scripts/pglite-measure.mjs [--runs N] [--json] [--root DIR]
//
// CPU ms (user + system of the server process until its first 200) is printed beside the wall
// time: on a shared, loaded machine it is the steadier of the two. --root runs another build
// (DIR/dist/entry/node.js, e.g. a copy of an older build) for a before/after comparison.
// Extra environment for the server can be given as KEY=VALUE arguments (e.g. to compare a
// setting). Not part of the test suite: figures depend on the machine.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const root = args.includes('--root')
  ? args[args.indexOf('--root') + 1]
  : fileURLToPath(new URL('..', import.meta.url));
// An older build (--root) may predate the CommonJS entry that sizes the thread pool.
const entry = existsSync(join(root, 'dist/entry/serve.cjs')) ? 'dist/entry/serve.cjs' : 'dist/entry/node.js';
const runs = Number(args[args.indexOf('--runs') + 1] ?? 1) || 1;
const asJson = args.includes('--json');
// Node options for the server (V8 flags such as --liftoff-only), after `--`.
const nodeArgs = args.includes('--') ? args.slice(args.indexOf('--') + 1) : [];
// Sequential refreshes timed after the login: what a setting costs the hot path.
const refreshes = args.includes('--refreshes') ? Number(args[args.indexOf('--refreshes') + 1]) : 0;
const extraEnv = Object.fromEntries(
  args
    .filter((a) => /^[A-Z_][A-Z0-9_]*=/.test(a))
    .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
);

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function memory(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN);
  return { rssMiB: Math.round(kib('VmRSS') / 1024), hwmMiB: Math.round(kib('VmHWM') / 1024) };
}

/** utime + stime of a process, in ms (fields 14 and 15 of /proc/PID/stat, in clock ticks of 10 ms). */
async function cpuMs(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function start(dataDir) {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const base = `http://127.0.0.1:${port}`;
  let startMs;
  let startCpuMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${base}/health`);
      await response.arrayBuffer();
      if (response.status === 200) {
        startMs = Math.round(performance.now() - began);
        startCpuMs = await cpuMs(child.pid);
        break;
      }
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    base,
    startMs,
    startCpuMs,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function post(base, path, body) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function measureStart(dataDir, label, email) {
  const server = await start(dataDir);
  for (let i = 0; i < 5; i++) await (await fetch(`${server.base}/health`)).arrayBuffer();
  const afterHealth = await memory(server.pid);
  const credentials = { email, password: 'correct horse battery staple' };
  if (label === 'first') await post(server.base, '/v1/auth/register', { ...credentials, name: 'Measure' });
  let pair = await post(server.base, '/v1/auth/login', { ...credentials, device_name: 'measure' });
  const afterLogin = await memory(server.pid);
  let refreshMs;
  if (refreshes > 0) {
    const began = performance.now();
    for (let i = 0; i < refreshes; i++) {
      pair = await post(server.base, '/v1/auth/refresh', { refresh_token: pair.refresh_token });
    }
    refreshMs = Number(((performance.now() - began) / refreshes).toFixed(2));
  }
  const afterRefreshes = refreshes > 0 ? await memory(server.pid) : undefined;
  await server.stop();
  return {
    label,
    startMs: server.startMs,
    startCpuMs: server.startCpuMs,
    afterHealth,
    afterLogin,
    refreshMs,
    afterRefreshes,
  };
}

const results = [];
for (let run = 0; run < runs; run++) {
  const dir = await mkdtemp(join(tmpdir(), 'pglite-measure-'));
  try {
    const email = `measure-${run}@example.com`;
    results.push(await measureStart(dir, 'first', email));
    results.push(await measureStart(dir, 'second', email));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (asJson) {
  console.log(JSON.stringify(results));
} else {
  for (const r of results) {
    console.log(
      `${r.label.padEnd(6)} start ${String(r.startMs).padStart(5)} ms (CPU ${String(r.startCpuMs).padStart(5)} ms) | after /health RSS ${r.afterHealth.rssMiB} MiB HWM ${r.afterHealth.hwmMiB} MiB | after register+login RSS ${r.afterLogin.rssMiB} MiB HWM ${r.afterLogin.hwmMiB} MiB` +
        (r.refreshMs === undefined
          ? ''
          : ` | ${refreshes} refreshes ${r.refreshMs} ms each, then RSS ${r.afterRefreshes.rssMiB} MiB HWM ${r.afterRefreshes.hwmMiB} MiB`),
    );
  }
}
