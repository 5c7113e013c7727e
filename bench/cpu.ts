import { readdir, readFile } from 'node:fs/promises';
import type postgres from 'postgres';

/**
 * Where the CPU time of a load goes, from /proc: the server child split into its main thread
 * (the event loop: HTTP, JSON, drizzle, postgres.js, logging) and its other threads (libuv's
 * thread pool: argon2 and WebCrypto; V8's GC and compiler threads; on Node 20 they are all
 * named "node", so they are not told apart; with `serve --workers N` the primary and every
 * worker count, main threads summed), and PostgreSQL (the client backends of the
 * scratch database, and apart from them its autovacuum workers). The load generator reports its own (process.cpuUsage),
 * and the whole machine's busy time tells what everything else used meanwhile. On a 2-vCPU
 * machine they all share two CPU-seconds per second; this says what a throughput is bounded by.
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuSnapshot {
  at: number;
  /**
   * The server process and its descendants (`serve --workers N`: the primary and its workers):
   * `main` sums the main thread of each process, `threads` every other thread.
   */
  server: { main: number; threads: number; processes: number };
  /** The scratch database's client backends. */
  postgres: number;
  /** Its autovacuum workers: not the load's own work, but they run meanwhile. */
  autovacuum: number;
  /** Busy CPU-seconds of the whole machine (/proc/stat), to tell how much others used. */
  machine: number;
  /** Other processes of the measured setup (a connection pooler), by pid. */
  extra: number;
}

/** utime + stime (seconds) from a /proc/.../stat line. */
function parseStat(text: string): { seconds: number } {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return { seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
}

/**
 * `pid` and every process below it, from the parent pids in /proc/PID/stat (field 4): the
 * workers of `serve --workers N` are children of its primary (node:cluster forks them).
 */
export async function processTree(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

async function serverThreads(pid: number) {
  const out = { main: 0, threads: 0, processes: 0 };
  for (const member of await processTree(pid)) {
    const tasks = await readdir(`/proc/${member}/task`).catch(() => [] as string[]);
    if (tasks.length) out.processes++;
    for (const tid of tasks) {
      const stat = await readFile(`/proc/${member}/task/${tid}/stat`, 'utf8').catch(() => undefined);
      if (!stat) continue;
      const { seconds } = parseStat(stat);
      if (Number(tid) === member) out.main += seconds;
      else out.threads += seconds;
    }
  }
  return out;
}

/** utime + stime of whole processes (all their threads), in seconds. */
async function processSeconds(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat) total += parseStat(stat).seconds;
  }
  return total;
}

/**
 * The CPU-seconds of the processes of `database`: its client backends, or its autovacuum
 * workers. The cluster's shared background processes (WAL writer, checkpointer) are left
 * out: other databases of the cluster use them too.
 */
export async function postgresSeconds(
  sql: postgres.Sql,
  database: string,
  kind: 'client backend' | 'autovacuum worker' = 'client backend',
): Promise<number> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND backend_type = ${kind}`;
  let total = 0;
  for (const { pid } of rows) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat) total += parseStat(stat).seconds;
  }
  return total;
}

export async function cpuSnapshot(
  serverPid: number,
  sql: postgres.Sql,
  database: string,
  extraPids: number[] = [],
): Promise<CpuSnapshot> {
  const [server, pg, autovacuum, machine, extra] = await Promise.all([
    serverThreads(serverPid),
    postgresSeconds(sql, database),
    postgresSeconds(sql, database, 'autovacuum worker'),
    machineBusySeconds(),
    processSeconds(extraPids),
  ]);
  return { at: performance.now(), server, postgres: pg, autovacuum, machine, extra };
}

/** Busy CPU-seconds of the whole machine since boot: every /proc/stat field but idle and iowait. */
export async function machineBusySeconds(): Promise<number> {
  const fields = (await readFile('/proc/stat', 'utf8'))
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const busy = fields.slice(0, 8).reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0);
  return busy / TICKS_PER_SECOND;
}

export interface CpuSplit {
  wallSeconds: number;
  /** CPU-seconds per second of wall time, by component. */
  perSecond: {
    serverMain: number;
    serverThreads: number;
    postgres: number;
    autovacuum: number;
    machine: number;
    /** The `extraPids` of the snapshots (a pooler). */
    extra: number;
  };
  /** Processes of the server seen at the end (1, or the primary and its workers). */
  serverProcesses: number;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuSplit {
  const wallSeconds = (after.at - before.at) / 1000;
  const rate = (a: number, b: number) => (b - a) / wallSeconds;
  return {
    wallSeconds,
    perSecond: {
      serverMain: rate(before.server.main, after.server.main),
      serverThreads: rate(before.server.threads, after.server.threads),
      postgres: rate(before.postgres, after.postgres),
      // A worker that ended during the load takes its time with it: a lower bound.
      autovacuum: Math.max(0, rate(before.autovacuum, after.autovacuum)),
      machine: rate(before.machine, after.machine),
      extra: rate(before.extra, after.extra),
    },
    serverProcesses: after.server.processes,
  };
}
