/**
 * `npm run bench`: every figure measured side by side with its baseline in one run (these
 * machines are noisy), printed as a table and written to bench/results/latest.json. Each goal
 * of issue #21 is a row graded PASS or MISS against a limit stated or measured in the same
 * run, or n/a with the reason when this run could not measure it.
 *
 * Blocks (BENCH_BLOCKS, a comma list, default all: verify,refresh,login,storm,memory,pgbouncer,workers;
 * e.g. BENCH_BLOCKS=login BENCH_SECONDS=3 BENCH_WARMUP_SECONDS=1 npm run bench while working on
 * logins). Every block but verify runs on a scratch PostgreSQL database and its server.
 *   verify      the kit `latchkey/verify` vs bare node:crypto: fresh >= 0.6, repeated >= 5
 *               (in-process, PGlite, with the first version's one-client medians; inprocess.ts)
 *   refresh     POST /v1/auth/refresh on the real server (src/entry/node.ts as a child process,
 *               on PostgreSQL) driven by autocannon in its own process (load.ts), one rotation
 *               chain per connection, at 1/8/32 connections, vs the same rotation statement sent
 *               straight through postgres.js at the same concurrency (sql-baseline.ts):
 *               >= 0.5 at 32; the server's main-thread CPU per refresh at 32 (cpu.ts) <= 0.3 ms;
 *               every response 200; SQL round trips per refresh, counted on the wire by a
 *               proxy (pg-proxy.ts): <= 2. Beside the CPU goal, its floor on this machine: the
 *               same exchange on bare Hono (hono-floor.mjs: no middleware, no work) plus the
 *               bare SQL client's CPU per statement plus one Ed25519 signature; and issue #21's
 *               prototype (prototype.mjs: the work alone, this statement included, on bare
 *               Hono and postgres.js, at the server's rate, then as fast as it answers: the
 *               share of the bare statement the work alone reaches, beside the ratio goal)
 *   login       POST /v1/auth/login (autocannon) vs argon2id verifications (argon2-baseline.ts)
 *               at the same concurrency: >= 0.9 at 8 and 32; SQL round trips per login (a
 *               user's first, then again from the same device; the proxy): <= 4. Beside it, the
 *               hashing threads' share of the CPUs (the ratio's ceiling) and the CPU each login
 *               spends outside them against what the goal leaves
 *   storm       refresh p99 at 8 connections while a second autocannon saturates logins, vs idle: <= 3x;
 *               beside it, its floor: the prototype answering the refreshes during the same storm
 *   memory      VmRSS of the server child: PostgreSQL idle < 150 MiB and peak under the
 *               32-connection refresh load < 200 MiB (sampled during the refresh block's point,
 *               or a load of its own without it), PGlite idle < 250 MiB (fresh dir and second
 *               start); vs a bare node HTTP server. Start-up, spawn to the first 200 from
 *               /health: PGlite fresh dir < 2 s; its second start and PostgreSQL (empty
 *               database) without a goal
 *   pgbouncer   refresh at 32 connections through a private PgBouncer in transaction pooling
 *               (pgbouncer.ts: Debian's package, apt-get installed when missing unless
 *               BENCH_PGBOUNCER_INSTALL=0; the server with DATABASE_PREPARE=false before
 *               PgBouncer 1.21, prepared with max_prepared_statements from 1.21), beside the
 *               direct figure (the refresh block's, or measured in this block); n/a with the
 *               reason when PgBouncer cannot be installed or started
 *   workers     `latchkey serve --workers N` (the CLI of the build, node:cluster) at N of
 *               BENCH_WORKERS (1,2): refresh at 32 connections vs the bare statement, the CPU
 *               and VmRSS of all its processes; n/a while `latchkey help` names no --workers
 * A goal missed in the refresh, login or storm block (or BENCH_PROFILE=1) runs that load again
 * on a server under `node --cpu-prof` and prints where its main thread's time goes
 * (profile-summary.ts); the profiles are kept next to the results (*.cpuprofile). Each measured
 * HTTP load also reports where the machine's CPU went (cpu.ts): the server's main thread and
 * other threads (summed over its processes with --workers), PostgreSQL, the load generator,
 * PgBouncer in the pgbouncer block, and everything else.
 *
 * PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); a
 * scratch database is created next to it and dropped at the end, also on failure or Ctrl-C.
 * Before each point on PostgreSQL the scratch database is VACUUMed (ANALYZE), and before
 * every point the bench waits (a little) for a machine other processes keep busy; a point
 * measured on a busy machine anyway is marked with * (the machine may be shared). A warning
 * says when src/ changed while the bench ran (the servers then ran different code).
 * Durations: BENCH_SECONDS (10) per measured point, BENCH_WARMUP_SECONDS (2) before each.
 * Other knobs: BENCH_BLOCKS (all), BENCH_REFRESH_CONNECTIONS (1,8,32), BENCH_LOGIN_CONNECTIONS (8,32),
 * BENCH_STORM_REFRESH_CONNECTIONS (8), BENCH_STORM_LOGIN_CONNECTIONS (32), BENCH_WORKERS (1,2),
 * BENCH_ROUNDTRIP_REFRESHES (500), BENCH_ITERATIONS (300, in-process), BENCH_KIT_TOKENS (2000),
 * BENCH_INPROCESS (1; 0 leaves out the verify block), BENCH_PROFILE (auto | 1 | 0),
 * BENCH_PGBOUNCER_INSTALL (1; 0: never apt-get install pgbouncer),
 * BENCH_SERVER (dist: the build, as `npm run serve`; tsx: as `npm start`),
 * BENCH_LOG_LEVEL (info, as `npm start`), BENCH_SERVER_ENV (JSON object of extra server
 * variables, for experiments), BENCH_SERVER_NODE_ARGS (extra node flags for the server, e.g.
 * "--max-semi-space-size=4"), BENCH_QUIET_WAIT (15: seconds to wait, before each point, for a
 * CPU that other processes keep busy), BENCH_RESULTS (bench/results/latest.json).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import postgres from 'postgres';
import { parseConfig } from '../src/config.js';
import { SECOND_COLLECTION_AFTER_MS } from '../src/entry/idle-memory.js';
import { probeThreadPool, runArgon2Verifications } from './argon2-baseline.js';
import { type CpuSplit, cpuBetween, cpuSnapshot, postgresSeconds } from './cpu.js';
import { runInProcess } from './inprocess.js';
import type { LoadResult, LoadSpec } from './load.js';
import { CountingProxy, type WireCounts } from './pg-proxy.js';
import { startPgBouncer } from './pgbouncer.js';
import { formatProfile, type ProfileSummary, summarizeProfile } from './profile-summary.js';
import {
  BenchServer,
  CLI_ENTRY,
  killAllChildren,
  mapLimit,
  memoryOf,
  PROJECT_ROOT,
  postJson,
  SERVER_MODE,
  type ServerOptions,
  trackChild,
  treeMemoryOf,
} from './server.js';
import { captureRotationStatement, runSqlRotations, type SqlLoadResult } from './sql-baseline.js';

const env = process.env;
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);
const list = (name: string, fallback: number[]) =>
  env[name] ? env[name]!.split(',').map((item) => Number(item.trim())) : fallback;

const SECONDS = num('BENCH_SECONDS', 10);
const WARMUP = num('BENCH_WARMUP_SECONDS', 2);
const REFRESH_CONNECTIONS = list('BENCH_REFRESH_CONNECTIONS', [1, 8, 32]);
const LOGIN_CONNECTIONS = list('BENCH_LOGIN_CONNECTIONS', [8, 32]);
const STORM_REFRESH = num('BENCH_STORM_REFRESH_CONNECTIONS', 8);
const STORM_LOGIN = num('BENCH_STORM_LOGIN_CONNECTIONS', 32);
const ROUNDTRIP_REFRESHES = num('BENCH_ROUNDTRIP_REFRESHES', 500);
const PROFILE = env.BENCH_PROFILE ?? 'auto';
const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? 'info';
const SERVER_ENV = env.BENCH_SERVER_ENV ? (JSON.parse(env.BENCH_SERVER_ENV) as Record<string, string>) : {};
const SERVER_NODE_ARGS = env.BENCH_SERVER_NODE_ARGS
  ? env.BENCH_SERVER_NODE_ARGS.split(' ').filter(Boolean)
  : [];
const QUIET_WAIT = num('BENCH_QUIET_WAIT', 15);
const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RESULTS_FILE = resolve(PROJECT_ROOT, env.BENCH_RESULTS ?? 'bench/results/latest.json');
const RESULTS_DIR = resolve(RESULTS_FILE, '..');
const BARE_LABEL = SERVER_MODE === 'tsx' ? 'node+tsx' : 'node';
const BARE_ENTRY = 'bench/bare-server.mjs';
/** The refresh's HTTP exchange on bare Hono, none of the work: the floor under the CPU goal. */
const FLOOR_ENTRY = 'bench/hono-floor.mjs';
/** Issue #21's prototype: the refresh's work on bare Hono and postgres.js, none of the guarantees. */
const PROTOTYPE_ENTRY = 'bench/prototype.mjs';
/** Connections of the graded refresh points: the CPU goal, PgBouncer and the workers (issue #21). */
const GRADED_CONNECTIONS = 32;
const WORKER_COUNTS = list('BENCH_WORKERS', [1, 2]);

/**
 * BENCH_BLOCKS: which blocks run (default all), so that one can be measured quickly while
 * working on it. Every block but `verify` needs the PostgreSQL scratch database and its server.
 */
const BLOCKS = ['verify', 'refresh', 'login', 'storm', 'memory', 'pgbouncer', 'workers'] as const;
type Block = (typeof BLOCKS)[number];
const selectedBlocks = new Set<string>(
  env.BENCH_BLOCKS
    ? env.BENCH_BLOCKS.split(',')
        .map((name) => name.trim())
        .filter(Boolean)
    : BLOCKS,
);
for (const name of selectedBlocks) {
  if (!(BLOCKS as readonly string[]).includes(name))
    throw new Error(`BENCH_BLOCKS: no block "${name}" (the blocks: ${BLOCKS.join(', ')})`);
}
// The older switch for the in-process section still works.
if (env.BENCH_INPROCESS === '0') selectedBlocks.delete('verify');
const runs = (block: Block) => selectedBlocks.has(block);

// The server runs from the build (dist/), as in production: build it from the sources now,
// so that the figures are never those of a stale build.
if (SERVER_MODE === 'dist') {
  const built = spawnSync('npm', ['run', '-s', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('npm run build failed');
}

const GOALS = {
  kitFresh: 0.6,
  kitRepeated: 5,
  refreshRatio: 0.5,
  roundTrips: 2,
  loginRatio: 0.9,
  stormP99: 3,
  /** Server main-thread CPU per refresh at 32 connections, ms. */
  mainCpuMs: 0.3,
  /** SQL round trips of one password login (without MFA). */
  loginRoundTrips: 4,
  /** VmRSS of the server on PostgreSQL, idle after a warm-up. */
  memoryMiB: 150,
  /** Peak VmRSS of the server on PostgreSQL under the 32-connection refresh load. */
  memoryPeakMiB: 200,
  /** VmRSS of the server on PGlite, idle after a warm-up. */
  pgliteMemoryMiB: 250,
  /** Spawn to the first 200 from /health on a fresh PGlite data directory, ms. */
  pgliteFirstStartMs: 2000,
};

/** The server's defaults (argon2 parameters, refresh TTL) as `npm start` parses them. */
const defaults = parseConfig({});
const PASSWORD = 'correct horse battery staple';
type User = { email: string; password: string };

// ---------------------------------------------------------------------------------------
// The table

interface Row {
  block: string;
  measure: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** n/a: a goal this run could not measure (the reason is in `baseline`). */
  result: 'PASS' | 'MISS' | 'info' | 'n/a';
}
const rows: Row[] = [];
const row = (r: Row) => rows.push(r);
const fmt = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
const verdict = (ok: boolean): Row['result'] => (ok ? 'PASS' : 'MISS');
/** A goal that could not be measured in this run, and why. */
const naRow = (block: string, measure: string, reason: string, goal: string) =>
  row({ block, measure, value: 'n/a', baseline: reason, ratio: '-', goal, result: 'n/a' });
const ms = (value: number) => fmt(value, value < 10 ? 2 : value < 100 ? 1 : 0);

function printTable(header: string) {
  const columns: (keyof Row)[] = ['block', 'measure', 'value', 'baseline', 'ratio', 'goal', 'result'];
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((r) => r[column].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ');
  console.log(`\n${header}`);
  console.log(line(columns));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  let previous = '';
  for (const r of rows) {
    console.log(line(columns.map((column) => (column === 'block' && r.block === previous ? '' : r[column]))));
    previous = r.block;
  }
}

/**
 * Info row: CPU-seconds per second during a measured load, by component (cpu.ts), and per
 * request; "others" is what the rest of the machine used meanwhile (other processes, the
 * cluster's shared WAL writer and checkpointer, the kernel's share not charged to a process).
 */
function cpuRow(block: string, label: string, m: LoadResult & { cpu?: CpuSplit }, extraLabel?: string) {
  if (!m.cpu) return;
  const c = m.cpu.perSecond;
  const ours = c.serverMain + c.serverThreads + c.postgres + c.autovacuum + m.cpuPerSecond + c.extra;
  // A pooler in the path (PgBouncer) is ours too: its share is shown after the others.
  const pooler = extraLabel ? `, ${extraLabel}` : '';
  const processes = m.cpu.serverProcesses > 1 ? ` (${m.cpu.serverProcesses} server processes)` : '';
  const others = Math.max(0, c.machine - ours);
  // More than a third of a CPU used by others during the load: say so next to the figures.
  const busy = others > 0.33;
  if (busy)
    busyPoints.push({
      point: `${block} ${label} (during the load)`,
      busyShare: others / cpus().length,
      waitedSeconds: 0,
      marked: true,
    });
  row({
    block,
    measure: `${label}: CPU-s/s main/threads, PG, load gen, autovac., others${pooler}${processes}${busy ? ' *' : ''}`,
    value: [
      c.serverMain,
      c.serverThreads,
      c.postgres,
      m.cpuPerSecond,
      c.autovacuum,
      others,
      ...(pooler ? [c.extra] : []),
    ]
      .map((v) => fmt(v, 2))
      .join('/'),
    baseline: `ms/req: main ${fmt((c.serverMain / m.perSecond) * 1000, 2)}, PG ${fmt((c.postgres / m.perSecond) * 1000, 2)}`,
    ratio: fmt(c.machine / cpus().length, 2),
    goal: '-',
    result: 'info',
  });
}

const log = (message: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

// ---------------------------------------------------------------------------------------
// A shared machine: before each measured point, wait (a little) for other processes to calm down

/** Share of all CPUs busy over `ms`, from /proc/stat. */
async function cpuBusyShare(ms: number): Promise<number> {
  const read = async () => {
    const [, ...fields] = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/);
    const values = fields.map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { idle, total: values.reduce((a, b) => a + b, 0) };
  };
  const before = await read();
  await new Promise((done) => setTimeout(done, ms));
  const after = await read();
  const total = after.total - before.total;
  return total > 0 ? 1 - (after.idle - before.idle) / total : 0;
}

const BUSY = 0.25;
/** Points measured on a machine others kept busy (`marked`: with a * in the table), or after a wait. */
const busyPoints: { point: string; busyShare: number; waitedSeconds: number; marked: boolean }[] = [];

/**
 * Called while everything of ours is idle: if the CPUs are busier than 25 %, someone else is
 * running; wait up to BENCH_QUIET_WAIT seconds for them. Returns ' *' for a point measured on
 * a busy machine anyway (marked in the table).
 */
async function quiet(point: string): Promise<string> {
  const started = performance.now();
  let share = await cpuBusyShare(500);
  while (share > BUSY && performance.now() - started < QUIET_WAIT * 1000) {
    await new Promise((done) => setTimeout(done, 1000));
    share = await cpuBusyShare(500);
  }
  const waitedSeconds = (performance.now() - started) / 1000;
  if (share > BUSY || waitedSeconds > 1) {
    busyPoints.push({ point, busyShare: share, waitedSeconds, marked: share > BUSY });
  }
  return share > BUSY ? ' *' : '';
}

/**
 * Before a point on PostgreSQL: VACUUM (ANALYZE) the scratch database, so that the dead rows
 * one point leaves (every rotation marks a row and inserts one) are not vacuumed in the middle
 * of the next one, then wait for a quiet machine.
 */
async function settle(point: string): Promise<string> {
  if (monitorSql) await monitorSql.unsafe('VACUUM (ANALYZE)');
  return quiet(point);
}

// ---------------------------------------------------------------------------------------
// Scratch PostgreSQL database, dropped at the end whatever happens

const scratchName = `latchkey_bench_${Date.now()}_${process.pid}`;
const adminUrl = new URL(DATABASE_URL);
const scratchUrl = new URL(DATABASE_URL);
scratchUrl.pathname = `/${scratchName}`;
let scratchCreated = false;
let cleaningUp: Promise<void> | undefined;
let workDir = '';

async function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    killAllChildren();
    await monitorSql?.end({ timeout: 5 }).catch(() => {});
    if (scratchCreated) {
      const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
      try {
        await admin`DROP DATABASE IF EXISTS ${admin(scratchName)} WITH (FORCE)`;
        scratchCreated = false;
      } catch (error) {
        console.error(`could not drop the scratch database ${scratchName}: ${(error as Error).message}`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    }
    if (workDir) await rm(workDir, { recursive: true, force: true });
  })();
  return cleaningUp;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the children and dropping ${scratchName}`);
    void cleanup().finally(() => process.exit(130));
  });
}
process.on('exit', killAllChildren);

// ---------------------------------------------------------------------------------------
// Helpers: servers, the load child, sessions, memory sampling

const servers: BenchServer[] = [];

/**
 * A digest of src/ and drizzle/: the code each server child loaded. Someone editing src/
 * while the bench runs would otherwise make blocks measured on different servers disagree.
 */
async function sourceFingerprint(): Promise<string> {
  const hash = createHash('sha256');
  for (const top of ['src', 'drizzle']) {
    const files = (await readdir(join(PROJECT_ROOT, top), { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .sort();
    for (const file of files) hash.update(file).update(await readFile(file));
  }
  return hash.digest('hex').slice(0, 12);
}
const fingerprints: { server: string; source: string }[] = [];

async function startServer(
  options: Omit<ServerOptions, 'dataDir' | 'logDir'> & { dataDir?: string; logDir?: string },
) {
  fingerprints.push({ server: options.label, source: await sourceFingerprint() });
  const server = await BenchServer.start({
    dataDir: workDir,
    logDir: workDir,
    logLevel: LOG_LEVEL,
    ...options,
    env: { ...SERVER_ENV, ...options.env },
    nodeArgs: options.entry === BARE_ENTRY ? [] : SERVER_NODE_ARGS,
  });
  servers.push(server);
  return server;
}

/**
 * Starts bench/load.ts in its own process; `onStarted` fires when its measured run begins,
 * `stop()` ends it early (SIGTERM: autocannon stops and the child still reports).
 */
function startLoad(spec: LoadSpec, onStarted?: () => void) {
  const child = trackChild(
    spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', '-'], {
      cwd: PROJECT_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  child.stdin!.end(JSON.stringify(spec));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  let outcome: { result: LoadResult; warmup?: LoadResult } | undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (text) => {
    let message: { event: string; result?: LoadResult; warmup?: LoadResult };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.event === 'started') onStarted?.();
    if (message.event === 'result') outcome = { result: message.result!, warmup: message.warmup };
  });
  const result = new Promise<{ result: LoadResult; warmup?: LoadResult }>((done, fail) => {
    child.once('exit', (code) => {
      if (code === 0 && outcome) done(outcome);
      else fail(new Error(`load generator failed (exit ${code}):\n${stderr}`));
    });
  });
  return { result, stop: () => child.kill('SIGTERM') };
}

/** A connection to the scratch database for reading which backends are ours (cpu.ts). */
let monitorSql: postgres.Sql | undefined;

type Measured = LoadResult & { cpu?: CpuSplit };

/**
 * Runs a load and splits the CPU time spent during its measured part (from its "started"
 * event to its end) between the server's main thread, its other threads and PostgreSQL.
 */
async function runMeasured(server: BenchServer, spec: LoadSpec, extraPids: number[] = []): Promise<Measured> {
  let before: Promise<Awaited<ReturnType<typeof cpuSnapshot>>> | undefined;
  const load = startLoad(spec, () => {
    if (monitorSql) before = cpuSnapshot(server.pid, monitorSql, scratchName, extraPids);
  });
  const { result } = await load.result;
  if (!before || !monitorSql) return result;
  const cpu = cpuBetween(await before, await cpuSnapshot(server.pid, monitorSql, scratchName, extraPids));
  return { ...result, cpu };
}

/** Logs the users in (in order, cycling), returning the refresh tokens: one session each. */
async function openSessions(base: string, users: User[], count: number): Promise<string[]> {
  const picks = Array.from({ length: count }, (_, i) => users[i % users.length]!);
  return mapLimit(picks, 4, async (user) => {
    const pair = await postJson<{ refresh_token: string }>(base, '/v1/auth/login', user);
    return pair.refresh_token;
  });
}

const refreshLoad = async (
  server: BenchServer,
  users: User[],
  connections: number,
  extraPids: number[] = [],
) =>
  runMeasured(
    server,
    {
      mode: 'refresh',
      base: server.base,
      connections,
      durationSeconds: SECONDS,
      warmupSeconds: WARMUP,
      // One session per connection for the warm-up run, one per connection for the measured one.
      tokens: await openSessions(server.base, users, connections * 2),
    },
    extraPids,
  );

/** Milliseconds of one Ed25519 signature (node:crypto, as the server signs) over `bytes` bytes: the mean of 2,000. */
function ed25519SignMs(bytes: number): number {
  const { privateKey } = generateKeyPairSync('ed25519');
  const data = Buffer.alloc(bytes, 'a');
  for (let i = 0; i < 200; i++) sign(null, data, privateKey);
  const started = performance.now();
  for (let i = 0; i < 2000; i++) sign(null, data, privateKey);
  return (performance.now() - started) / 2000;
}

/** Samples VmRSS every 100 ms until stopped; returns the peak seen. */
function sampleMemory(pid: number) {
  let peak = 0;
  let samples = 0;
  const timer = setInterval(() => {
    memoryOf(pid)
      .then(({ rssMiB }) => {
        samples++;
        peak = Math.max(peak, rssMiB);
      })
      .catch(() => {});
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return { peakMiB: peak, samples };
    },
  };
}

/** A little traffic so that "idle" means warmed up: a login and `n` refreshes, then 2 s of rest. */
async function warmUp(base: string, user: User, n: number) {
  let { refresh_token: token } = await postJson<{ refresh_token: string }>(base, '/v1/auth/login', user);
  for (let i = 0; i < n; i++) {
    ({ refresh_token: token } = await postJson<{ refresh_token: string }>(base, '/v1/auth/refresh', {
      refresh_token: token,
    }));
  }
  await new Promise((done) => setTimeout(done, 2000));
}

/** The server's quiet period before it gives its spare heap back (IDLE_MEMORY_RELEASE, 0: never). */
const IDLE_RELEASE_SECONDS = parseConfig(SERVER_ENV).idleMemoryReleaseSeconds;

/** Seconds from the last request to the idle reading: the server's two collections, then 2 s. */
const IDLE_READING_SECONDS = IDLE_RELEASE_SECONDS + SECOND_COLLECTION_AFTER_MS / 1000 + 2;

/**
 * VmRSS right after warmUp (2 s after the last request: `justAfter`), and idle: 2 s after the
 * second collection the server makes once quiet (src/entry/idle-memory.ts), when it has given
 * its spare heap back; the goal is graded on `idle`. With IDLE_MEMORY_RELEASE=0 they are one reading.
 */
async function idleMemory(server: BenchServer) {
  const justAfter = await server.memory();
  if (IDLE_RELEASE_SECONDS <= 0) return { justAfter, idle: justAfter };
  await new Promise((done) => setTimeout(done, (IDLE_READING_SECONDS - 2) * 1000));
  return { justAfter, idle: await server.memory() };
}

async function register(base: string, emails: string[]): Promise<User[]> {
  await mapLimit(emails, 4, (email) => postJson(base, '/v1/auth/register', { email, password: PASSWORD }));
  return emails.map((email) => ({ email, password: PASSWORD }));
}

/**
 * The storm: logins to `server` saturated by one load child while another one measures
 * refreshes, answered by `refreshing` (the server itself, or the prototype beside it).
 */
async function storm(server: BenchServer, loginUsers: User[], refreshUsers: User[], refreshing = server) {
  const tokens = await openSessions(server.base, refreshUsers, STORM_REFRESH * 2);
  let stormStarted!: () => void;
  const started = new Promise<void>((done) => {
    stormStarted = done;
  });
  // Long enough for the refresh child to start, warm up and measure; stopped when it is done.
  const logins = startLoad(
    {
      mode: 'login',
      base: server.base,
      connections: STORM_LOGIN,
      durationSeconds: WARMUP + SECONDS + 60,
      warmupSeconds: 0,
      users: loginUsers,
    },
    stormStarted,
  );
  try {
    await Promise.race([started, logins.result]);
    const refresh = await runMeasured(refreshing, {
      mode: 'refresh',
      base: refreshing.base,
      connections: STORM_REFRESH,
      durationSeconds: SECONDS,
      warmupSeconds: WARMUP,
      tokens,
    });
    logins.stop();
    return { refresh, logins: (await logins.result).result };
  } finally {
    logins.stop();
  }
}

/** Runs `load` on a fresh server (same database) under `node --cpu-prof`; keeps and summarises the profile. */
async function profiled<T>(name: string, load: (server: BenchServer) => Promise<T>) {
  const dir = join(workDir, `cpu-prof-${name}`);
  await mkdir(dir, { recursive: true });
  const server = await startServer({
    databaseUrl: scratchUrl.toString(),
    logDir: dir,
    label: `profiled-${name}`,
    migrate: false,
    cpuProfile: true,
  });
  let outcome: T;
  try {
    outcome = await load(server);
  } finally {
    await server.stop();
  }
  const file = (await readdir(dir)).find((entry) => entry.endsWith('.cpuprofile'));
  if (!file) return { outcome, summary: undefined };
  await mkdir(RESULTS_DIR, { recursive: true });
  const kept = join(RESULTS_DIR, `${name}.cpuprofile`);
  await copyFile(join(dir, file), kept);
  // The profile starts with the process: leave its start-up out.
  const summary = await summarizeProfile(kept, 12, server.startupMs);
  return { outcome, summary };
}

// ---------------------------------------------------------------------------------------

const report: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  blocks: BLOCKS.filter(runs),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model.trim(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    uvThreadpoolSize: env.UV_THREADPOOL_SIZE ?? '4 (default)',
  },
  settings: {
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    refreshConnections: REFRESH_CONNECTIONS,
    loginConnections: LOGIN_CONNECTIONS,
    stormRefreshConnections: STORM_REFRESH,
    stormLoginConnections: STORM_LOGIN,
    workers: WORKER_COUNTS,
    serverLogLevel: LOG_LEVEL,
    serverEnv: SERVER_ENV,
    serverNodeArgs: SERVER_NODE_ARGS,
    argon2: defaults.argon2,
    databasePoolMax: defaults.databasePoolMax,
  },
};
const started = performance.now();
const loadAtStart = loadavg();
const needsPostgres = BLOCKS.some((block) => block !== 'verify' && runs(block));

try {
  workDir = await mkdtemp(join(tmpdir(), 'latchkey-bench-'));
  fingerprints.push({ server: 'bench process', source: await sourceFingerprint() });
  log(`blocks: ${BLOCKS.filter(runs).join(', ') || 'none'}`);

  // 1. Verify (in-process, PGlite), with the first version's one-client medians.
  if (runs('verify')) {
    const mark = await quiet('in-process');
    log('in-process section (PGlite): verify, kit, one-client medians');
    const inProcess = await runInProcess({
      iterations: num('BENCH_ITERATIONS', 300),
      kitTokens: num('BENCH_KIT_TOKENS', 2000),
    });
    report.inProcess = inProcess;
    const { kit } = inProcess;
    const kitRow = (measure: string, ratio: number, goal: number | undefined, digits: number) =>
      row({
        block: 'verify (kit, in-process)',
        measure: `${measure}${mark}`,
        value: `${fmt(ratio * kit.baselinePerSecond)}/s`,
        baseline: `node:crypto ${fmt(kit.baselinePerSecond)}/s`,
        ratio: fmt(ratio, digits),
        goal: goal === undefined ? '-' : `>= ${goal}`,
        result: goal === undefined ? 'info' : verdict(ratio >= goal),
      });
    kitRow('fresh tokens, verifications/s', kit.fresh, GOALS.kitFresh, 2);
    kitRow('one token repeated (cache)', kit.repeated, GOALS.kitRepeated, 1);
    kitRow('jose jwtVerify alone (reference)', kit.joseOnly, undefined, 2);
    const medianRow = (measure: string, ours: number, base: string, baseMs: number) =>
      row({
        block: 'in-process, 1 client, PGlite',
        measure: `${measure}${mark}`,
        value: `${fmt(ours, 3)} ms`,
        baseline: `${base} ${fmt(baseMs, 3)} ms`,
        ratio: fmt(ours / baseMs, 2),
        goal: '- (time ratio)',
        result: 'info',
      });
    medianRow(
      'server verifies an access token',
      inProcess.serverVerifyMs,
      'Ed25519',
      inProcess.nodeCryptoVerifyMs,
    );
    medianRow('refresh via app.request', inProcess.refreshMs, 'bare CTE', inProcess.bareRotationMs);
    medianRow(
      'DPoP-bound refresh via app.request',
      inProcess.dpopRefreshMs,
      'plain refresh',
      inProcess.refreshMs,
    );
    medianRow('login via app.request', inProcess.loginMs, 'argon2 hash', inProcess.oneHashMs);
  }

  // 2. Memory block, off PostgreSQL: the bare baseline server, then PGlite.
  let bare: BenchServer | undefined;
  let bareMemory: { rssMiB: number; hwmMiB: number } | undefined;
  let pglite:
    | {
        first: BenchServer;
        second: BenchServer;
        firstMemory: Awaited<ReturnType<typeof idleMemory>>;
        secondMemory: Awaited<ReturnType<typeof idleMemory>>;
        firstMark: string;
      }
    | undefined;
  if (runs('memory')) {
    // The baseline server for start-up and memory: node (+ tsx) + node:http, nothing else.
    log(`bare ${BARE_LABEL} HTTP server (baseline for start-up and memory)`);
    await quiet('bare server');
    bare = await startServer({ label: 'bare', entry: BARE_ENTRY });
    for (let i = 0; i < 200; i++) await (await fetch(`${bare.base}/health`)).arrayBuffer();
    await new Promise((done) => setTimeout(done, 2000));
    bareMemory = await bare.memory();
    await bare.stop();

    // PGlite: start-up on a fresh data directory, idle memory; second start on the same directory.
    log('PGlite server: fresh start, idle memory, second start');
    const pgliteDir = join(workDir, 'pglite-data');
    const firstMark = await quiet('PGlite start');
    const first = await startServer({ dataDir: pgliteDir, label: 'pglite-1' });
    const [pgliteUser] = await register(first.base, [`pglite-${Date.now()}@example.com`]);
    await warmUp(first.base, pgliteUser!, 200);
    const firstMemory = await idleMemory(first);
    await first.stop();
    await quiet('PGlite second start');
    const second = await startServer({ dataDir: pgliteDir, label: 'pglite-2' });
    await warmUp(second.base, pgliteUser!, 200);
    const secondMemory = await idleMemory(second);
    await second.stop();
    pglite = { first, second, firstMemory, secondMemory, firstMark };
  }

  if (needsPostgres) {
    // 3. PostgreSQL: scratch database; fresh start (migrations and key creation included).
    log(`PostgreSQL: scratch database ${scratchName}`);
    {
      const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        await admin`CREATE DATABASE ${admin(scratchName)}`;
        scratchCreated = true;
        report.postgresVersion = (await admin`SHOW server_version`)[0]!.server_version;
      } catch (error) {
        throw new Error(
          `cannot create a scratch database through ${DATABASE_URL}: ${(error as Error).message} (is PostgreSQL up? pg_ctlcluster --skip-systemctl-redirect <version> main start)`,
        );
      } finally {
        await admin.end({ timeout: 5 });
      }
    }
    monitorSql = postgres(scratchUrl.toString(), { max: 1, onnotice: () => {} });
    const pgStartMark = await quiet('PostgreSQL start');
    const server = await startServer({ databaseUrl: scratchUrl.toString(), label: 'pg' });
    const stamp = Date.now();
    log('registering users');
    // Refresh sessions and login-storm users are kept apart: the storm's logins evict sessions
    // (15 per user), which must never be the sessions a refresh run is rotating.
    const refreshUsers = await register(
      server.base,
      Array.from({ length: 64 }, (_, i) => `refresh-${stamp}-${i}@example.com`),
    );
    const loginUsers = await register(
      server.base,
      Array.from({ length: 32 }, (_, i) => `login-${stamp}-${i}@example.com`),
    );
    await warmUp(server.base, refreshUsers[0]!, 200);
    const pgIdleMemory = await idleMemory(server);

    const statement = await captureRotationStatement({
      clientId: 'default',
      refreshTokenTtlMs: defaults.refreshTokenTtlSeconds * 1000,
      device: { ipAddress: '127.0.0.1', userAgent: null, location: null },
    });
    report.rotationStatement = statement.text;
    /**
     * What the floor and the prototype are started with (the refresh block and the storm's
     * floor): the length of a real access token, the statement as a file, the pool. Worked out
     * once, at first use (one login).
     */
    let besideSetupReady: Promise<{ tokenLength: number; prototypeEnv: Record<string, string> }> | undefined;
    const besideSetup = () =>
      (besideSetupReady ??= (async () => {
        const sample = await postJson<{ access_token: string }>(
          server.base,
          '/v1/auth/login',
          refreshUsers[0]!,
        );
        const statementFile = join(workDir, 'rotation-statement.json');
        await writeFile(statementFile, JSON.stringify(statement.template));
        const tokenLength = sample.access_token.length;
        return {
          tokenLength,
          prototypeEnv: {
            FLOOR_ACCESS_TOKEN_LENGTH: String(tokenLength),
            PROTOTYPE_DATABASE_URL: scratchUrl.toString(),
            PROTOTYPE_STATEMENT: statementFile,
            PROTOTYPE_POOL: String(defaults.databasePoolMax),
          },
        };
      })());
    /** The bare rotation statement at `connections` clients (sql-baseline.ts). */
    const bareSql = async (connections: number, prepared = true) =>
      runSqlRotations({
        url: scratchUrl.toString(),
        statement,
        refreshTokens: await openSessions(server.base, refreshUsers, connections),
        seconds: SECONDS,
        warmupSeconds: WARMUP,
        prepared,
        postgresCpuSeconds: () => postgresSeconds(monitorSql!, scratchName),
      });

    // 4. Refresh throughput: HTTP (autocannon child) vs bare SQL (postgres.js, same concurrency).
    const refreshPoints: { connections: number; http: Measured; sql: SqlLoadResult; busy: string }[] = [];
    let loadMemory: { peakMiB: number; samples: number } | undefined;
    let unpreparedSql: SqlLoadResult | undefined;
    const maxRefresh = Math.max(...REFRESH_CONNECTIONS);
    let refreshOk = true;
    if (runs('refresh')) {
      for (const connections of REFRESH_CONNECTIONS) {
        log(`refresh: HTTP at ${connections} connection(s)`);
        let busy = await settle(`refresh HTTP ${connections}`);
        const sampler = connections === maxRefresh ? sampleMemory(server.pid) : undefined;
        const http = await refreshLoad(server, refreshUsers, connections);
        if (sampler) loadMemory = sampler.stop();
        log(`refresh: bare SQL at ${connections} client(s)`);
        busy ||= await settle(`refresh SQL ${connections}`);
        const sql = await bareSql(connections);
        refreshPoints.push({ connections, http, sql, busy });
        if (connections === maxRefresh) {
          log(
            `refresh: bare SQL at ${connections} clients, unprepared, drizzle's default for execute() (reference)`,
          );
          await settle(`refresh SQL unprepared ${connections}`);
          unpreparedSql = await bareSql(connections, false);
        }
      }
      // The floor under the CPU goal: the same exchange on bare Hono (bench/hono-floor.mjs),
      // and one Ed25519 signature of an access token's size in this process.
      let floor: (Measured & { busy: string }) | undefined;
      let prototype: (Measured & { busy: string }) | undefined;
      let prototypeFull: (Measured & { busy: string }) | undefined;
      let signMs = Number.NaN;
      const gradedRate = refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS)?.http
        .perSecond;
      if (gradedRate) {
        log(
          `refresh: the floor, the same HTTP exchange on bare Hono at ${GRADED_CONNECTIONS} connections, ${fmt(gradedRate)}/s`,
        );
        const { tokenLength, prototypeEnv } = await besideSetup();
        // A server beside the graded point, driven like it: at the rate the server answered, as
        // CPU per request grows as the rate falls (fewer requests share each turn of the event
        // loop), so each reference is taken where the server ran.
        const measureBeside = async (options: {
          entry: string;
          label: string;
          env: Record<string, string>;
          tokens: () => Promise<string[]>;
          /** false: as fast as it answers (not at the server's rate). */
          atServerRate?: boolean;
        }) => {
          const beside = await startServer({ entry: options.entry, label: options.label, env: options.env });
          try {
            const tokens = await options.tokens();
            const busy = await settle(`refresh ${options.label}`);
            const measured = await runMeasured(beside, {
              mode: 'refresh',
              base: beside.base,
              connections: GRADED_CONNECTIONS,
              durationSeconds: SECONDS,
              warmupSeconds: WARMUP,
              tokens,
              ...(options.atServerRate === false ? {} : { overallRate: Math.round(gradedRate) }),
            });
            return { ...measured, busy };
          } finally {
            await beside.stop();
          }
        };
        floor = await measureBeside({
          entry: FLOOR_ENTRY,
          label: 'floor',
          env: { FLOOR_ACCESS_TOKEN_LENGTH: String(tokenLength) },
          tokens: async () => Array.from({ length: GRADED_CONNECTIONS * 2 }, (_, i) => `floor-${i}`),
        });
        signMs = ed25519SignMs(tokenLength);

        // The prototype: the refresh's work itself (body, HMAC, two SHA-256, this very
        // statement, one Ed25519 signature) on bare Hono and postgres.js, on sessions of this
        // database.
        log(`refresh: the prototype (the work on bare Hono, none of the guarantees) at ${fmt(gradedRate)}/s`);
        const prototypeAt = (atServerRate: boolean) =>
          measureBeside({
            entry: PROTOTYPE_ENTRY,
            label: 'prototype',
            env: prototypeEnv,
            tokens: () => openSessions(server.base, refreshUsers, GRADED_CONNECTIONS * 2),
            atServerRate,
          });
        prototype = await prototypeAt(true);
        // And as fast as it answers: the share of the bare statement the work alone reaches on
        // this machine, the ceiling of the throughput goal.
        log(`refresh: the prototype as fast as it answers, ${GRADED_CONNECTIONS} connections`);
        prototypeFull = await prototypeAt(false);
      }
      report.refresh = { points: refreshPoints, unpreparedSql, floor, prototype, prototypeFull, signMs };
      for (const { connections, http, sql, busy } of refreshPoints) {
        const ratio = http.perSecond / sql.perSecond;
        const graded = connections === GRADED_CONNECTIONS;
        if (graded) refreshOk = ratio >= GOALS.refreshRatio;
        row({
          block: 'refresh, PostgreSQL',
          measure: `${connections} conn.: req/s, p50/p99 ms${busy}`,
          value: `${fmt(http.perSecond)}/s, ${ms(http.latencyMs.p50)}/${ms(http.latencyMs.p99)}`,
          baseline: `SQL ${fmt(sql.perSecond)}/s, ${ms(sql.latencyMs.p50)}/${ms(sql.latencyMs.p99)}`,
          ratio: fmt(ratio, 2),
          goal: graded ? `>= ${GOALS.refreshRatio}` : '-',
          result: graded ? verdict(ratio >= GOALS.refreshRatio) : 'info',
        });
      }
      // The work alone, as fast as it answers, against the same bare statement: how near the
      // throughput goal a refresh with none of the server's guarantees comes on this machine.
      const gradedSql = refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS)?.sql;
      if (prototypeFull && gradedSql) {
        row({
          block: 'refresh, PostgreSQL',
          measure: `prototype (the work alone, bare Hono + postgres.js) as fast as it answers, ${GRADED_CONNECTIONS} conn.: req/s${prototypeFull.busy}`,
          value: `${fmt(prototypeFull.perSecond)}/s, ${ms(prototypeFull.latencyMs.p50)}/${ms(prototypeFull.latencyMs.p99)}`,
          baseline: `SQL ${fmt(gradedSql.perSecond)}/s; the server ${fmt((refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS)?.http.perSecond ?? Number.NaN) / prototypeFull.perSecond, 2)} x it`,
          ratio: fmt(prototypeFull.perSecond / gradedSql.perSecond, 2),
          goal: `vs the goal ${GOALS.refreshRatio}`,
          result: 'info',
        });
        cpuRow('refresh, PostgreSQL', 'prototype as fast as it answers', prototypeFull);
      }
      for (const { connections, http } of refreshPoints) {
        if (connections >= 8) cpuRow('refresh, PostgreSQL', `${connections} conn.`, http);
      }
      // Goal: the server's main thread (its event loop: HTTP, JSON, JWT, drizzle, postgres.js)
      // spends at most 0.3 ms of CPU per refresh at 32 connections. Beside it, what the
      // postgres.js client alone spends per statement in the bare SQL baseline.
      const graded = refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS);
      if (graded?.http.cpu) {
        const mainMs = (graded.http.cpu.perSecond.serverMain / graded.http.perSecond) * 1000;
        const clientMs = graded.sql.cpuPerSecond
          ? (graded.sql.cpuPerSecond.client / graded.sql.perSecond) * 1000
          : Number.NaN;
        if (mainMs > GOALS.mainCpuMs) refreshOk = false;
        row({
          block: 'refresh, PostgreSQL',
          measure: `${GRADED_CONNECTIONS} conn.: server main-thread CPU per refresh${graded.busy}`,
          value: `${fmt(mainMs, 3)} ms`,
          baseline: `bare SQL client ${fmt(clientMs, 3)} ms/stmt`,
          ratio: fmt(mainMs / clientMs, 1),
          goal: `<= ${GOALS.mainCpuMs} ms`,
          result: verdict(mainMs <= GOALS.mainCpuMs),
        });
        // What bounds that goal on this machine: the least each part of a refresh costs alone.
        if (floor?.cpu) {
          const honoMs = (floor.cpu.perSecond.serverMain / floor.perSecond) * 1000;
          const floorMs = honoMs + clientMs + signMs;
          row({
            block: 'refresh, PostgreSQL',
            measure: `floor: the same exchange on bare Hono (${GRADED_CONNECTIONS} conn., same rate; no middleware, no work), main-thread CPU${floor.busy}`,
            value: `${fmt(honoMs, 3)} ms`,
            baseline: `${fmt(floor.perSecond)}/s`,
            ratio: fmt(mainMs / honoMs, 1),
            goal: '-',
            result: 'info',
          });
          row({
            block: 'refresh, PostgreSQL',
            measure:
              'floor of a refresh: bare Hono + bare SQL client + one Ed25519 signature (ratio > 1: under the floor)',
            value: `${fmt(floorMs, 3)} ms`,
            baseline: `${fmt(honoMs, 3)} + ${fmt(clientMs, 3)} + ${fmt(signMs, 3)}`,
            ratio: fmt(floorMs / GOALS.mainCpuMs, 2),
            goal: `vs the goal ${GOALS.mainCpuMs} ms`,
            result: 'info',
          });
        }
        // Issue #21's prototype, measured beside it: what the work costs with none of the
        // server's guarantees. Its ratio to the goal says whether the goal is within reach here.
        if (prototype?.cpu) {
          const prototypeMs = (prototype.cpu.perSecond.serverMain / prototype.perSecond) * 1000;
          row({
            block: 'refresh, PostgreSQL',
            measure: `prototype: the work alone on bare Hono + postgres.js (body, HMAC, 2 x SHA-256, this statement, one Ed25519 JWT; no middleware, no checks), main-thread CPU${prototype.busy}`,
            value: `${fmt(prototypeMs, 3)} ms`,
            baseline: `${fmt(prototype.perSecond)}/s, ${fmt(prototype.non2xx + prototype.errors)} failed; the server ${fmt(mainMs / prototypeMs, 2)} x it`,
            ratio: fmt(prototypeMs / GOALS.mainCpuMs, 2),
            goal: `vs the goal ${GOALS.mainCpuMs} ms`,
            result: 'info',
          });
        }
      } else {
        naRow(
          'refresh, PostgreSQL',
          `${GRADED_CONNECTIONS} conn.: server main-thread CPU per refresh`,
          `no ${GRADED_CONNECTIONS}-connection point (BENCH_REFRESH_CONNECTIONS)`,
          `<= ${GOALS.mainCpuMs} ms`,
        );
      }
      const sqlCpuRow = (label: string, sql: SqlLoadResult) => {
        if (!sql.cpuPerSecond) return;
        const { postgres: pg, client } = sql.cpuPerSecond;
        row({
          block: 'refresh, PostgreSQL',
          measure: `bare SQL ${label}: CPU-s/s PG, client`,
          value: `${fmt(pg, 2)}, ${fmt(client, 2)}`,
          baseline: `ms/stmt: PG ${fmt((pg / sql.perSecond) * 1000, 2)}, client ${fmt((client / sql.perSecond) * 1000, 2)}`,
          ratio: fmt((pg + client) / cpus().length, 2),
          goal: '-',
          result: 'info',
        });
      };
      const maxPoint = refreshPoints.find((point) => point.connections === maxRefresh);
      if (maxPoint) sqlCpuRow(`${maxRefresh} clients, prepared`, maxPoint.sql);
      if (unpreparedSql) sqlCpuRow(`${maxRefresh} clients, unprepared`, unpreparedSql);
      if (unpreparedSql && maxPoint) {
        row({
          block: 'refresh, PostgreSQL',
          measure: `${maxRefresh} conn. vs SQL unprepared (drizzle's default)`,
          value: `${fmt(maxPoint.http.perSecond)}/s`,
          baseline: `SQL ${fmt(unpreparedSql.perSecond)}/s, ${ms(unpreparedSql.latencyMs.p50)}/${ms(unpreparedSql.latencyMs.p99)}`,
          ratio: fmt(maxPoint.http.perSecond / unpreparedSql.perSecond, 2),
          goal: '- (reference)',
          result: 'info',
        });
      }
      const refreshNon2xx = refreshPoints.reduce((sum, point) => sum + point.http.non2xx, 0);
      const refreshErrors = refreshPoints.reduce((sum, point) => sum + point.http.errors, 0);
      const refreshResponses = refreshPoints.reduce((sum, point) => sum + point.http.responses, 0);
      const brokenChains = refreshPoints.reduce((sum, point) => sum + point.sql.brokenChains, 0);
      row({
        block: 'refresh, PostgreSQL',
        measure: `non-2xx / errors of ${fmt(refreshResponses)} responses`,
        value: `${refreshNon2xx} / ${refreshErrors}`,
        baseline: `SQL chains broken: ${brokenChains}`,
        ratio: '-',
        goal: '0',
        result: verdict(refreshNon2xx === 0 && refreshErrors === 0 && brokenChains === 0),
      });
    }

    // 5. SQL round trips per refresh (refresh block) and per login (login block), counted on the wire.
    if (runs('refresh') || runs('login')) {
      log('round trips: a second server behind a counting proxy');
      const proxy = await CountingProxy.start({
        host: adminUrl.hostname,
        port: Number(adminUrl.port || 5432),
      });
      const wire: {
        refresh?: WireCounts;
        refreshes: number;
        firstLogin?: WireCounts;
        login?: WireCounts;
        logins: number;
      } = { refreshes: ROUNDTRIP_REFRESHES, logins: 20 };
      try {
        const proxiedUrl = new URL(scratchUrl);
        proxiedUrl.hostname = '127.0.0.1';
        proxiedUrl.port = String(proxy.port);
        const counted = await startServer({
          databaseUrl: proxiedUrl.toString(),
          label: 'pg-proxied',
          migrate: false,
        });
        try {
          const refresh = async (token: string) =>
            (
              await postJson<{ refresh_token: string }>(counted.base, '/v1/auth/refresh', {
                refresh_token: token,
              })
            ).refresh_token;
          // Warm up on every connection of the pool (concurrent chains; postgres.js reads the
          // array types once per connection), then count sequential requests.
          const warm = await openSessions(counted.base, refreshUsers, defaults.databasePoolMax);
          await Promise.all(
            warm.map(async (first) => {
              let token = first;
              for (let i = 0; i < 20; i++) token = await refresh(token);
            }),
          );
          if (runs('refresh')) {
            let token = (await openSessions(counted.base, refreshUsers, 1))[0]!;
            proxy.reset();
            for (let i = 0; i < ROUNDTRIP_REFRESHES; i++) token = await refresh(token);
            wire.refresh = proxy.snapshot();
          }
          if (runs('login')) {
            // The login users' first logins (no sign-in seen before: first_sign_in, new device),
            // then each of them again from the same device: the steady state the login load measures.
            const users = loginUsers.slice(0, wire.logins);
            proxy.reset();
            for (const user of users) await postJson(counted.base, '/v1/auth/login', user);
            wire.firstLogin = proxy.snapshot();
            proxy.reset();
            for (const user of users) await postJson(counted.base, '/v1/auth/login', user);
            wire.login = proxy.snapshot();
          }
        } finally {
          await counted.stop();
        }
      } finally {
        await proxy.close();
      }
      report.roundTrips = wire;
      if (wire.refresh) {
        const counts = wire.refresh;
        const perRefresh = counts.roundTrips / wire.refreshes;
        const byType = counts.byType;
        row({
          block: 'round trips',
          measure: `SQL round trips per refresh (${wire.refreshes} sequential)`,
          value: fmt(perRefresh, 2),
          baseline: 'bare prepared statement: 1',
          ratio: fmt(perRefresh, 2),
          goal: `<= ${GOALS.roundTrips}`,
          result: verdict(perRefresh <= GOALS.roundTrips),
        });
        row({
          block: 'round trips',
          measure: 'per refresh: statements; Parse/Flush/Sync',
          value: `${fmt(counts.statements / wire.refreshes, 2)}; ${[byType.P, byType.H, byType.S].map((n) => fmt((n ?? 0) / wire.refreshes, 2)).join('/')}`,
          baseline: '-',
          ratio: '-',
          goal: '-',
          result: 'info',
        });
      }
      // Goal: a password login (no MFA) in at most 4 round trips, its first one and a repeat.
      const loginRow = (measure: string, counts: WireCounts) => {
        const perLogin = counts.roundTrips / wire.logins;
        row({
          block: 'round trips',
          measure: `${measure} (${wire.logins} sequential): round trips`,
          value: fmt(perLogin, 1),
          baseline: `statements ${fmt(counts.statements / wire.logins, 1)}`,
          ratio: '-',
          goal: `<= ${GOALS.loginRoundTrips}`,
          result: verdict(perLogin <= GOALS.loginRoundTrips),
        });
      };
      if (wire.firstLogin) loginRow("per login, the user's first", wire.firstLogin);
      if (wire.login) loginRow('per login, again from the same device', wire.login);
    }

    // 6. Login: HTTP (autocannon child) vs argon2id verifications at the same concurrency.
    let loginOk = true;
    if (runs('login')) {
      const loginPoints: { connections: number; http: Measured; argon2: { perSecond: number } }[] = [];
      let loginFailures = 0;
      for (const connections of LOGIN_CONNECTIONS) {
        log(`login: HTTP at ${connections} connections`);
        let busy = await settle(`login HTTP ${connections}`);
        const http = await runMeasured(server, {
          mode: 'login',
          base: server.base,
          connections,
          durationSeconds: SECONDS,
          warmupSeconds: WARMUP,
          users: loginUsers,
        });
        log(`login: argon2id verifications at ${connections} in flight`);
        busy ||= await quiet(`login argon2 ${connections}`);
        const argon = await runArgon2Verifications({
          params: defaults.argon2,
          password: PASSWORD,
          concurrency: connections,
          seconds: SECONDS,
          warmupSeconds: 1,
        });
        loginPoints.push({ connections, http, argon2: argon });
        loginFailures += http.non2xx + http.errors;
        const ratio = http.perSecond / argon.perSecond;
        if (ratio < GOALS.loginRatio) loginOk = false;
        row({
          block: 'login, PostgreSQL',
          measure: `${connections} conn.: logins/s, p50/p99 ms${busy}`,
          value: `${fmt(http.perSecond, 1)}/s, ${ms(http.latencyMs.p50)}/${ms(http.latencyMs.p99)}`,
          baseline: `argon2id verify ${fmt(argon.perSecond, 1)}/s`,
          ratio: fmt(ratio, 2),
          goal: `>= ${GOALS.loginRatio}`,
          result: verdict(ratio >= GOALS.loginRatio),
        });
        cpuRow('login, PostgreSQL', `${connections} conn.`, http);
        // What bounds the ratio: the baseline hashes on every core; a login shares them with its
        // own work (main thread, PostgreSQL, the load generator). The ratio can be no higher
        // than the share of the machine the hashing threads get, and at the goal everything
        // else must fit in what a tenth of the machine gives each login.
        if (http.cpu) {
          const c = http.cpu.perSecond;
          const cores = cpus().length;
          // Outside the hashing threads: PostgreSQL, the load generator, and the server's main thread.
          const othersMs =
            ((c.postgres + c.autovacuum + c.extra + http.cpuPerSecond) / http.perSecond) * 1000;
          const restMs = othersMs + (c.serverMain / http.perSecond) * 1000;
          const budgetMs = (((1 - GOALS.loginRatio) * cores) / (GOALS.loginRatio * argon.perSecond)) * 1000;
          row({
            block: 'login, PostgreSQL',
            measure: `${connections} conn.: hashing threads' share of the ${cores} CPUs (the ratio's ceiling when CPU-bound)`,
            value: fmt(c.serverThreads / cores, 2),
            baseline: `rest ${fmt(restMs, 1)} ms/login; at ${GOALS.loginRatio}: ${fmt(budgetMs, 1)}`,
            ratio: fmt(restMs / budgetMs, 1),
            goal: '-',
            result: 'info',
          });
          // The ceiling if the server's main thread cost nothing: the hashes share the CPUs with
          // PostgreSQL's statements and the load generator alone. Saturated, L logins/s take
          // L x (cores / argon + rest) CPU-s/s = cores, so the ratio L / argon is 1 / (1 + rest x argon / cores).
          const ceiling = 1 / (1 + (othersMs / 1000) * (argon.perSecond / cores));
          row({
            block: 'login, PostgreSQL',
            measure: `${connections} conn.: ceiling with a main thread that cost nothing (PostgreSQL + load generator only)`,
            value: fmt(ceiling, 2),
            baseline: `PG + load gen. ${fmt(othersMs, 1)} ms/login`,
            ratio: '-',
            goal: `vs ${GOALS.loginRatio}`,
            result: 'info',
          });
        }
      }
      row({
        block: 'login, PostgreSQL',
        measure: 'non-2xx + errors, all login runs',
        value: String(loginFailures),
        baseline: '-',
        ratio: '-',
        goal: '0',
        result: verdict(loginFailures === 0),
      });
      report.login = loginPoints;
    }

    // 7. Refresh under a login storm vs idle: same connection count, back to back.
    let stormOk = true;
    if (runs('storm')) {
      log(`storm: refresh at ${STORM_REFRESH} connections, idle`);
      let stormBusy = await settle('storm idle');
      const idle = await refreshLoad(server, refreshUsers, STORM_REFRESH);
      log(`storm: refresh at ${STORM_REFRESH} connections while ${STORM_LOGIN} connections log in`);
      stormBusy ||= await settle('storm');
      const stormed = await storm(server, loginUsers, refreshUsers);
      const stormRatio = stormed.refresh.latencyMs.p99 / idle.latencyMs.p99;
      stormOk = stormRatio <= GOALS.stormP99;
      row({
        block: 'refresh under login storm',
        measure: `${STORM_REFRESH} conn. refresh p99 (p50), ${STORM_LOGIN} conn. logging in${stormBusy}`,
        value: `${ms(stormed.refresh.latencyMs.p99)} ms (${ms(stormed.refresh.latencyMs.p50)})`,
        baseline: `idle ${ms(idle.latencyMs.p99)} ms (${ms(idle.latencyMs.p50)})`,
        ratio: fmt(stormRatio, 1),
        goal: `<= ${GOALS.stormP99}`,
        result: verdict(stormOk),
      });
      row({
        block: 'refresh under login storm',
        measure: 'refresh req/s; logins/s meanwhile; non-2xx',
        value: `${fmt(stormed.refresh.perSecond)}/s; ${fmt(stormed.logins.perSecond, 1)}/s; ${stormed.refresh.non2xx + stormed.logins.non2xx + stormed.refresh.errors + stormed.logins.errors}`,
        baseline: `idle ${fmt(idle.perSecond)}/s; -; ${idle.non2xx + idle.errors}`,
        ratio: fmt(stormed.refresh.perSecond / idle.perSecond, 2),
        goal: '-',
        result: 'info',
      });
      cpuRow('refresh under login storm', 'idle', idle);
      cpuRow('refresh under login storm', 'storm', stormed.refresh);
      // What the machine allows: the prototype (the refresh's work alone, none of the server's
      // guarantees) answering the refreshes, idle and during the same storm of logins to the
      // server. Its own ratio is the floor under the goal on this machine: the hashes, the
      // database and the load generators share its two CPUs with whoever answers refreshes.
      log(
        `storm: the prototype answers the refreshes, idle and while ${STORM_LOGIN} connections log in to the server`,
      );
      const prototype = await startServer({
        entry: PROTOTYPE_ENTRY,
        label: 'prototype-storm',
        env: (await besideSetup()).prototypeEnv,
      });
      try {
        await settle('storm prototype idle');
        const prototypeIdle = await runMeasured(prototype, {
          mode: 'refresh',
          base: prototype.base,
          connections: STORM_REFRESH,
          durationSeconds: SECONDS,
          warmupSeconds: WARMUP,
          tokens: await openSessions(server.base, refreshUsers, STORM_REFRESH * 2),
        });
        await settle('storm prototype');
        const prototypeStormed = await storm(server, loginUsers, refreshUsers, prototype);
        const floorRatio = prototypeStormed.refresh.latencyMs.p99 / prototypeIdle.latencyMs.p99;
        row({
          block: 'refresh under login storm',
          measure: `floor: the prototype answers the refreshes (${STORM_REFRESH} conn.), the server the same storm: p99 (p50)`,
          value: `${ms(prototypeStormed.refresh.latencyMs.p99)} ms (${ms(prototypeStormed.refresh.latencyMs.p50)})`,
          baseline: `idle ${ms(prototypeIdle.latencyMs.p99)} ms (${ms(prototypeIdle.latencyMs.p50)}); logins ${fmt(prototypeStormed.logins.perSecond, 1)}/s`,
          ratio: fmt(floorRatio, 1),
          goal: `vs the goal ${GOALS.stormP99}`,
          result: 'info',
        });
        report.stormFloor = { idle: prototypeIdle, storm: prototypeStormed };
      } finally {
        await prototype.stop();
      }
      log(
        `storm: one WebCrypto SHA-256 with ${STORM_LOGIN} argon2id verifications in flight (bench process)`,
      );
      const probe = await probeThreadPool({
        params: defaults.argon2,
        password: PASSWORD,
        inFlight: STORM_LOGIN,
        seconds: 3,
      });
      row({
        block: 'refresh under login storm',
        measure: `why: one SHA-256 with ${STORM_LOGIN} argon2 queued, p50/p99 ms`,
        value: `WebCrypto ${ms(probe.loaded.webCryptoMs.p50)}/${ms(probe.loaded.webCryptoMs.p99)}; sync ${fmt(probe.loaded.nodeCryptoSyncMs.p99, 3)}`,
        baseline: `idle WebCrypto ${ms(probe.idle.webCryptoMs.p50)}/${ms(probe.idle.webCryptoMs.p99)}`,
        ratio: fmt(probe.loaded.webCryptoMs.p50 / probe.idle.webCryptoMs.p50, 0),
        goal: '-',
        result: 'info',
      });
      report.storm = { idle, storm: stormed, threadPoolProbe: probe };
    }

    // 8. Refresh through PgBouncer in transaction mode, beside the direct figure.
    if (runs('pgbouncer')) {
      const block = 'refresh via PgBouncer';
      const measure = `${GRADED_CONNECTIONS} conn. through PgBouncer (transaction pooling)`;
      log('pgbouncer: a private PgBouncer in transaction mode');
      const bouncer = await startPgBouncer({
        target: {
          host: adminUrl.hostname,
          port: Number(adminUrl.port || 5432),
          user: decodeURIComponent(adminUrl.username) || 'postgres',
        },
        poolSize: defaults.databasePoolMax,
        log,
      });
      if ('unavailable' in bouncer) {
        naRow(block, measure, bouncer.unavailable, '- (beside direct)');
        report.pgbouncer = { unavailable: bouncer.unavailable };
      } else {
        try {
          // Direct: the refresh block's point at the same concurrency, or measured now.
          let direct = refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS)?.http;
          let directBusy =
            refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS)?.busy ?? '';
          if (!direct) {
            log(`pgbouncer: refresh direct at ${GRADED_CONNECTIONS} connections`);
            directBusy = await settle(`refresh direct ${GRADED_CONNECTIONS}`);
            direct = await refreshLoad(server, refreshUsers, GRADED_CONNECTIONS);
          }
          const pooledUrl = new URL(scratchUrl);
          pooledUrl.hostname = '127.0.0.1';
          pooledUrl.port = String(bouncer.port);
          // Before 1.21 PgBouncer cannot keep named statements in transaction mode: the server
          // must not prepare (docs/operations.md); 1.21+ with max_prepared_statements can.
          const prepare = bouncer.preparedStatements ? 'true' : 'false';
          const pooled = await startServer({
            databaseUrl: pooledUrl.toString(),
            label: 'pgbouncer',
            migrate: false,
            env: { DATABASE_PREPARE: prepare },
          });
          try {
            log(
              `pgbouncer: refresh at ${GRADED_CONNECTIONS} connections through PgBouncer ${bouncer.version}`,
            );
            const busy = (await settle(`refresh via PgBouncer ${GRADED_CONNECTIONS}`)) || directBusy;
            const http = await refreshLoad(pooled, refreshUsers, GRADED_CONNECTIONS, [bouncer.pid]);
            const failures = http.non2xx + http.errors;
            row({
              block,
              measure: `${measure}: req/s, p50/p99 ms${busy}`,
              value: `${fmt(http.perSecond)}/s, ${ms(http.latencyMs.p50)}/${ms(http.latencyMs.p99)}`,
              baseline: `direct ${fmt(direct.perSecond)}/s, ${ms(direct.latencyMs.p50)}/${ms(direct.latencyMs.p99)}`,
              ratio: fmt(http.perSecond / direct.perSecond, 2),
              goal: '- (beside direct)',
              result: 'info',
            });
            row({
              block,
              measure: `PgBouncer ${bouncer.version}, pool ${bouncer.poolSize}, DATABASE_PREPARE=${prepare}: non-2xx / errors`,
              value: `${http.non2xx} / ${http.errors} of ${fmt(http.responses)}`,
              baseline: '-',
              ratio: '-',
              goal: '0',
              result: verdict(failures === 0),
            });
            cpuRow(block, `${GRADED_CONNECTIONS} conn.`, http, 'PgBouncer');
            report.pgbouncer = {
              version: bouncer.version,
              preparedStatements: bouncer.preparedStatements,
              databasePrepare: prepare,
              poolSize: bouncer.poolSize,
              direct,
              pooled: http,
            };
          } finally {
            await pooled.stop();
          }
        } finally {
          await bouncer.stop();
        }
      }
    }

    // 9. `latchkey serve --workers N`: refresh at 32 connections with 1 and 2 workers (node:cluster).
    if (runs('workers')) {
      const block = 'serve --workers N';
      const measure = `refresh at ${GRADED_CONNECTIONS} conn., --workers ${WORKER_COUNTS.join(' and ')}`;
      // The flag is announced by `latchkey help`: measured once it exists.
      const help = spawnSync(
        process.execPath,
        [...(SERVER_MODE === 'tsx' ? ['--import', 'tsx'] : []), CLI_ENTRY, 'help'],
        { cwd: PROJECT_ROOT, encoding: 'utf8' },
      );
      if (!/--workers\b/.test(`${help.stdout}${help.stderr}`)) {
        naRow(block, measure, `${CLI_ENTRY} help names no --workers option (not built yet)`, '- (1 vs 2)');
        report.workers = { unavailable: 'no --workers option' };
      } else {
        const points: {
          workers: number;
          http: Measured;
          memory: { rssMiB: number; processes: number };
          busy: string;
        }[] = [];
        for (const workers of WORKER_COUNTS) {
          log(`workers: serve --workers ${workers}, refresh at ${GRADED_CONNECTIONS} connections`);
          const clustered = await startServer({
            databaseUrl: scratchUrl.toString(),
            label: `workers-${workers}`,
            migrate: false,
            entry: CLI_ENTRY,
            args: ['serve', '--workers', String(workers)],
          });
          try {
            await warmUp(clustered.base, refreshUsers[0]!, 50);
            const busy = await settle(`serve --workers ${workers}`);
            const http = await refreshLoad(clustered, refreshUsers, GRADED_CONNECTIONS);
            points.push({ workers, http, memory: await treeMemoryOf(clustered.pid), busy });
          } finally {
            await clustered.stop();
          }
        }
        // The bare statement at the same concurrency: the refresh block's, or measured now.
        let sql = refreshPoints.find((point) => point.connections === GRADED_CONNECTIONS)?.sql;
        if (!sql) {
          log(`workers: bare SQL at ${GRADED_CONNECTIONS} clients`);
          await settle(`workers SQL ${GRADED_CONNECTIONS}`);
          sql = await bareSql(GRADED_CONNECTIONS);
        }
        const one = points.find((point) => point.workers === 1) ?? points[0]!;
        for (const point of points) {
          const { http } = point;
          const speedup =
            point === one ? '' : `, x${fmt(http.perSecond / one.http.perSecond, 2)} of ${one.workers}`;
          row({
            block,
            measure: `--workers ${point.workers}: req/s, p50/p99 ms${speedup}${point.busy}`,
            value: `${fmt(http.perSecond)}/s, ${ms(http.latencyMs.p50)}/${ms(http.latencyMs.p99)}`,
            baseline: `SQL ${fmt(sql.perSecond)}/s, ${ms(sql.latencyMs.p50)}/${ms(sql.latencyMs.p99)}`,
            ratio: fmt(http.perSecond / sql.perSecond, 2),
            goal: `- (refresh: >= ${GOALS.refreshRatio})`,
            result: 'info',
          });
        }
        for (const point of points) {
          cpuRow(block, `--workers ${point.workers}`, point.http);
          row({
            block,
            measure: `--workers ${point.workers}: VmRSS of all its processes; non-2xx / errors`,
            value: `${fmt(point.memory.rssMiB, 1)} MiB (${point.memory.processes}); ${point.http.non2xx} / ${point.http.errors}`,
            baseline: '-',
            ratio: '-',
            goal: '0 non-2xx',
            result: verdict(point.http.non2xx === 0 && point.http.errors === 0),
          });
        }
        report.workers = { points, sql };
      }
    }

    // 10. Memory on PostgreSQL: idle (measured above) and the peak under the refresh load.
    if (runs('memory')) {
      if (!loadMemory) {
        log(`memory: refresh at ${maxRefresh} connections, sampling VmRSS`);
        await settle(`memory refresh ${maxRefresh}`);
        const sampler = sampleMemory(server.pid);
        await refreshLoad(server, refreshUsers, maxRefresh);
        loadMemory = sampler.stop();
      }
      const endMemory = await server.memory();
      const rssRow = (measure: string, mib: number, goalMiB: number) =>
        row({
          block: 'memory, VmRSS of the server',
          measure,
          value: `${fmt(mib, 1)} MiB`,
          baseline: `bare ${BARE_LABEL} ${fmt(bareMemory!.rssMiB, 1)} MiB`,
          ratio: fmt(mib / bareMemory!.rssMiB, 2),
          goal: `< ${goalMiB} MiB`,
          result: verdict(mib < goalMiB),
        });
      const idleLabel =
        IDLE_RELEASE_SECONDS > 0 ? `idle ${IDLE_READING_SECONDS} s after warm-up` : 'idle after warm-up';
      rssRow(`PostgreSQL, ${idleLabel}`, pgIdleMemory.idle.rssMiB, GOALS.memoryMiB);
      rssRow(`PostgreSQL, peak during ${maxRefresh}-conn. refresh`, loadMemory.peakMiB, GOALS.memoryPeakMiB);
      rssRow(`PGlite, ${idleLabel} (fresh dir)`, pglite!.firstMemory.idle.rssMiB, GOALS.pgliteMemoryMiB);
      rssRow(`PGlite, ${idleLabel} (second start)`, pglite!.secondMemory.idle.rssMiB, GOALS.pgliteMemoryMiB);
      if (IDLE_RELEASE_SECONDS > 0) {
        row({
          block: 'memory, VmRSS of the server',
          measure: `2 s after warm-up, before the idle release (IDLE_MEMORY_RELEASE=${IDLE_RELEASE_SECONDS}): PostgreSQL; PGlite fresh, second`,
          value: `${fmt(pgIdleMemory.justAfter.rssMiB, 1)} MiB`,
          baseline: `${fmt(pglite!.firstMemory.justAfter.rssMiB, 1)}; ${fmt(pglite!.secondMemory.justAfter.rssMiB, 1)} MiB`,
          ratio: '-',
          goal: '-',
          result: 'info',
        });
      }
      row({
        block: 'memory, VmRSS of the server',
        measure: 'PostgreSQL: VmHWM at end of run (peak, logins incl.)',
        value: `${fmt(endMemory.hwmMiB, 1)} MiB`,
        baseline: '-',
        ratio: '-',
        goal: '-',
        result: 'info',
      });
      row({
        block: 'memory, VmRSS of the server',
        measure: 'PGlite: VmHWM of the first start (peak)',
        value: `${fmt(pglite!.firstMemory.idle.hwmMiB, 1)} MiB`,
        baseline: `second start ${fmt(pglite!.secondMemory.idle.hwmMiB, 1)} MiB`,
        ratio: '-',
        goal: '-',
        result: 'info',
      });
      report.memory = {
        bare: bareMemory,
        postgresIdle: pgIdleMemory,
        postgresRefreshLoad: loadMemory,
        postgresEndOfRun: endMemory,
        pgliteIdleFresh: pglite!.firstMemory,
        pgliteIdleSecondStart: pglite!.secondMemory,
      };

      // Start-up: spawn to the first 200; the PGlite first start is a goal (issue #21).
      const startupRow = (measure: string, value: number, goalMs?: number) =>
        row({
          block: 'start-up, spawn to 200 /health',
          measure,
          value: `${fmt(value)} ms`,
          baseline: `bare ${BARE_LABEL} ${fmt(bare!.startupMs)} ms`,
          ratio: fmt(value / bare!.startupMs, 1),
          goal: goalMs === undefined ? '-' : `< ${fmt(goalMs)} ms`,
          result: goalMs === undefined ? 'info' : verdict(value < goalMs),
        });
      startupRow(
        `PGlite, fresh dir (first start: database, migrations, key)${pglite!.firstMark}`,
        pglite!.first.startupMs,
        GOALS.pgliteFirstStartMs,
      );
      startupRow('PGlite, second start on the same dir', pglite!.second.startupMs);
      startupRow(`PostgreSQL, empty database (migrations, key)${pgStartMark}`, server.startupMs);
      report.startup = {
        bareMs: bare!.startupMs,
        pgliteFreshMs: pglite!.first.startupMs,
        pgliteSecondMs: pglite!.second.startupMs,
        postgresFreshMs: server.startupMs,
      };
    }
    await server.stop();

    // 11. Profiles of the loads whose goal was missed (or all of them with BENCH_PROFILE=1).
    const profiles: Record<string, { summary?: ProfileSummary; load: unknown }> = {};
    // Profiles of an earlier run would pass for this one's.
    for (const old of await readdir(RESULTS_DIR).catch(() => [] as string[])) {
      if (old.endsWith('.cpuprofile')) await rm(join(RESULTS_DIR, old), { force: true });
    }
    if (runs('refresh') && (PROFILE === '1' || (PROFILE === 'auto' && !refreshOk))) {
      log(`profile: refresh at ${maxRefresh} connections, server under node --cpu-prof`);
      const { outcome, summary } = await profiled(`refresh-${maxRefresh}`, (s) =>
        refreshLoad(s, refreshUsers, maxRefresh),
      );
      profiles[`refresh-${maxRefresh}`] = { summary, load: outcome };
    }
    if (runs('login') && (PROFILE === '1' || (PROFILE === 'auto' && !loginOk))) {
      const connections = Math.max(...LOGIN_CONNECTIONS);
      log(`profile: login at ${connections} connections, server under node --cpu-prof`);
      const { outcome, summary } = await profiled(`login-${connections}`, (s) =>
        runMeasured(s, {
          mode: 'login',
          base: s.base,
          connections,
          durationSeconds: SECONDS,
          warmupSeconds: WARMUP,
          users: loginUsers,
        }),
      );
      profiles[`login-${connections}`] = { summary, load: outcome };
    }
    if (runs('storm') && (PROFILE === '1' || (PROFILE === 'auto' && !stormOk))) {
      log('profile: the storm, server under node --cpu-prof');
      const { outcome, summary } = await profiled('storm', (s) => storm(s, loginUsers, refreshUsers));
      profiles.storm = { summary, load: outcome };
    }
    report.profiles = profiles;
  }

  report.machineBefore = { loadAverage: loadAtStart };
  report.sourceFingerprints = fingerprints;
  report.busyPoints = busyPoints;
  report.rows = rows;
  report.elapsedSeconds = (performance.now() - started) / 1000;
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);

  printTable(
    `latchkey bench: ${cpus().length} x ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, PostgreSQL ${report.postgresVersion ?? '(not used)'}; ${SECONDS} s per point (+${WARMUP} s warm-up); server: ${SERVER_MODE === 'dist' ? 'node dist/entry/serve.cjs' : 'tsx src/entry/node.ts'}, LOG_LEVEL=${LOG_LEVEL}, argon2id m=${defaults.argon2.memoryKib} KiB t=${defaults.argon2.timeCost} p=${defaults.argon2.parallelism}, pool ${defaults.databasePoolMax}${Object.keys(SERVER_ENV).length ? `, ${JSON.stringify(SERVER_ENV)}` : ''}${SERVER_NODE_ARGS.length ? `, node ${SERVER_NODE_ARGS.join(' ')}` : ''}${selectedBlocks.size < BLOCKS.length ? `; blocks: ${BLOCKS.filter(runs).join(', ')}` : ''}`,
  );
  const marked = busyPoints.filter((point) => point.marked);
  if (marked.length > 0) {
    console.log(
      `* others used the CPUs meanwhile (over ${BUSY * 100} % of them before the point, after waiting up to ${QUIET_WAIT} s, or over a third of a CPU during the load): ${marked
        .map((point) => `${point.point} ${fmt(point.busyShare * 100)} %`)
        .join(', ')}`,
    );
  }
  const sources = new Set(fingerprints.map((entry) => entry.source));
  if (sources.size > 1) {
    console.log(
      `WARNING: src/ changed during the run; the servers ran different code: ${fingerprints
        .map((entry) => `${entry.server} ${entry.source}`)
        .join(', ')}`,
    );
  }
  for (const [name, { summary }] of Object.entries(
    (report.profiles ?? {}) as Record<string, { summary?: ProfileSummary }>,
  )) {
    if (summary) console.log(`\n[${name}] ${formatProfile(summary)}`);
  }
  const named = (result: Row['result']) =>
    rows.filter((r) => r.result === result).map((r) => `${r.block}: ${r.measure}`);
  const missed = named('MISS');
  const unmeasured = named('n/a');
  console.log(`\n${missed.length ? `MISSED: ${missed.join('; ')}` : 'every goal measured was met'}`);
  if (unmeasured.length) console.log(`NOT MEASURED (n/a): ${unmeasured.join('; ')}`);
  console.log(`results: ${RESULTS_FILE} (run took ${fmt((performance.now() - started) / 1000)} s)`);
} catch (error) {
  for (const s of servers) {
    if (s.running) console.error(`--- output of server ${s.logFile} ---\n${await s.outputTail()}`);
  }
  throw error;
} finally {
  for (const s of servers) await s.stop(5_000).catch(() => {});
  await cleanup();
}
