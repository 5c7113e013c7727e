import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitUntilHealthy } from '../test/support/ports.js';
import { processTree } from './cpu.js';

/**
 * The real Node server (the build, as `npm run serve` starts it; BENCH_SERVER=tsx: as `npm start`) as a
 * child process of the bench, on PostgreSQL (`databaseUrl`) or PGlite (`dataDir`).
 * Its output goes to a file (never through a pipe the bench would have to drain while it
 * measures); the tail is shown when it fails.
 *
 * Settings are the defaults of `npm start` (argon2id m = 19 MiB, t = 2, p = 1, LOG_LEVEL
 * info, 10 pooled connections), except:
 *   - REGISTRATIONS_PER_IP: the bench signs up ~100 users from one address;
 *   - REFRESH_REUSE_GRACE=0: a load client that sent a stale refresh token (a broken chain)
 *     gets a 401 instead of the grace window's 200, so "all 200" proves every request
 *     carried the token its connection's previous response returned;
 *   - CLEANUP_INTERVAL=0: no cleanup statements in the middle of a measurement.
 */

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export const BENCH_MASTER_SECRET = 'latchkey-bench-master-secret-0123456789-abcdefghijklmn';

/** Every child process the bench started, so that none outlives it (see `killAllChildren`). */
const children = new Set<ChildProcess>();

export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Last resort on the way out: SIGKILL whatever the bench started and is still running. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB, from /proc/PID/status. */
export async function memoryOf(pid: number): Promise<{ rssMiB: number; hwmMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

/** VmRSS of a process and its descendants (`serve --workers N`: the primary and its workers), in MiB. */
export async function treeMemoryOf(pid: number): Promise<{ rssMiB: number; processes: number }> {
  let rssMiB = 0;
  let processes = 0;
  for (const member of await processTree(pid)) {
    const memory = await memoryOf(member).catch(() => undefined);
    if (memory && Number.isFinite(memory.rssMiB)) {
      rssMiB += memory.rssMiB;
      processes++;
    }
  }
  return { rssMiB, processes };
}

/** How the server runs: `dist` (the build, as `npm run serve`) or `tsx` (as `npm start`). */
export const SERVER_MODE: 'dist' | 'tsx' = process.env.BENCH_SERVER === 'tsx' ? 'tsx' : 'dist';

/** The CLI (`latchkey <command>`), as the server mode runs it: for `serve --workers N`. */
export const CLI_ENTRY = SERVER_MODE === 'tsx' ? 'src/entry/cli.ts' : 'dist/entry/latchkey.cjs';

export interface ServerOptions {
  /** PostgreSQL; without it the server runs on PGlite in `dataDir`. */
  databaseUrl?: string;
  dataDir: string;
  /** Where the output file goes (and the CPU profile, with `cpuProfile`). */
  logDir: string;
  label: string;
  migrate?: boolean;
  logLevel?: string;
  /** `node --cpu-prof`: the profile is written to `logDir` when the server exits. */
  cpuProfile?: boolean;
  env?: Record<string, string>;
  /** The script to run, from the project root; the baseline blocks use bench/bare-server.mjs. */
  entry?: string;
  /** Arguments after the script (`serve --workers 2` with `entry: CLI_ENTRY`). */
  args?: string[];
  /** Extra node flags (e.g. --max-semi-space-size=4), before --import tsx. */
  nodeArgs?: string[];
}

export class BenchServer {
  private exitInfo: { code: number | null; signal: string | null } | undefined;
  readonly exited: Promise<void>;
  /** Milliseconds from spawn to the first 200 from GET /health. */
  startupMs = Number.NaN;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
    });
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  async outputTail(chars = 4000): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.slice(-chars);
  }

  static async start(options: ServerOptions): Promise<BenchServer> {
    const port = await freePort();
    const logFile = join(options.logDir, `server-${options.label}-${port}.log`);
    const fd = openSync(logFile, 'a');
    // The compiled build (`npm run serve`, what production runs) unless BENCH_SERVER=tsx
    // (`npm start`); the bare baseline is started the same way.
    const args = [
      ...(options.nodeArgs ?? []),
      ...(options.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', options.logDir] : []),
      ...(SERVER_MODE === 'tsx' ? ['--import', 'tsx'] : []),
      options.entry ?? (SERVER_MODE === 'tsx' ? 'src/entry/node.ts' : 'dist/entry/serve.cjs'),
      ...(options.args ?? []),
    ];
    const started = performance.now();
    const child = trackChild(
      spawn(process.execPath, args, {
        cwd: PROJECT_ROOT,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/tmp',
          ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}),
          NODE_ENV: 'development',
          ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
          DATA_DIR: options.dataDir,
          MIGRATE_ON_START: options.migrate === false ? 'false' : 'true',
          PORT: String(port),
          HOST: '127.0.0.1',
          ISSUER: `http://127.0.0.1:${port}`,
          MASTER_SECRET: BENCH_MASTER_SECRET,
          REGISTRATIONS_PER_IP: '1000000',
          REFRESH_FAILURES_PER_IP: '1000000',
          LOGIN_FAILURES_PER_IP: '1000000',
          REFRESH_REUSE_GRACE: '0',
          CLEANUP_INTERVAL: '0',
          LOG_LEVEL: options.logLevel ?? 'info',
          ...options.env,
        },
        stdio: ['ignore', fd, fd],
      }),
    );
    closeSync(fd);
    const server = new BenchServer(child, port, logFile);
    try {
      await server.waitUntilHealthy(120_000);
      server.startupMs = performance.now() - started;
      return server;
    } catch (error) {
      server.kill('SIGKILL');
      await server.exited;
      throw error;
    }
  }

  /** Polls GET /health every 20 ms until 200 (the start-up time is measured on this). */
  async waitUntilHealthy(timeoutMs: number): Promise<void> {
    await waitUntilHealthy({
      base: this.base,
      timeoutMs,
      pollMs: 20,
      exited: () => (this.running ? undefined : JSON.stringify(this.exitInfo)),
      output: () => this.outputTail(),
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /**
   * SIGTERM (graceful: the CPU profile is written), SIGKILL after `graceMs`. A process the
   * server started itself (a worker of `serve --workers N`) and left running when it exited
   * is killed too, by its pid, if it is still the same program.
   */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    const below = (await processTree(this.pid)).slice(1);
    const commands = new Map<number, string>();
    for (const pid of below) commands.set(pid, await commandOf(pid));
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
    for (const [pid, command] of commands) {
      if (command && (await commandOf(pid)) === command) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
  }

  memory() {
    return memoryOf(this.pid);
  }
}

/** The command line of a process ('' once it is gone). */
async function commandOf(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
}

/** JSON POST to the server; throws on anything but 2xx. */
export async function postJson<T>(base: string, path: string, body: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}
