import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../test/support/ports.js';
import { trackChild } from './server.js';

/**
 * A private PgBouncer in transaction pooling mode in front of the bench's PostgreSQL, set up
 * as .ci/pgbouncer.sh sets up CI's (the same ini, the same reasons): Debian's package
 * (installed with apt-get when missing and the bench may: as root or with password-less sudo;
 * BENCH_PGBOUNCER_INSTALL=0 forbids it), on a free port of 127.0.0.1, trust auth, run as the
 * postgres user when the bench is root (PgBouncer refuses to run as root). It runs in the
 * foreground as a child of the bench (no -d), so that the bench's exit kills it.
 *
 * Prepared statements: PgBouncer >= 1.21 carries named statements across server connections
 * in transaction mode when `max_prepared_statements` > 0; older versions (Debian 12 has 1.18)
 * cannot, so the server must run with DATABASE_PREPARE=false behind them (docs/operations.md).
 */

export interface PgBouncer {
  port: number;
  pid: number;
  version: string;
  /** True when this version keeps named prepared statements in transaction mode (>= 1.21). */
  preparedStatements: boolean;
  /** Server-side connections per database/user pair (the server's own pool is the same size). */
  poolSize: number;
  logFile: string;
  stop(): Promise<void>;
}

/** A command as root: directly when the bench is root, else through password-less sudo. */
const asRoot = (command: string, args: string[]) =>
  process.getuid?.() === 0
    ? spawnSync(command, args, {
        encoding: 'utf8',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      })
    : spawnSync('sudo', ['-n', command, ...args], {
        encoding: 'utf8',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });

function findBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  return existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : undefined;
}

/** apt-get install (an update first only if the plain install fails); the reason on failure. */
function install(log: (message: string) => void): string | undefined {
  if (process.env.BENCH_PGBOUNCER_INSTALL === '0') return 'not installed (BENCH_PGBOUNCER_INSTALL=0)';
  if (process.getuid?.() !== 0 && spawnSync('sudo', ['-n', 'true']).status !== 0)
    return 'not installed, and apt-get needs root (no password-less sudo)';
  const aptGet = (...args: string[]) => asRoot('apt-get', args);
  log('pgbouncer: not installed; apt-get install -y pgbouncer');
  let result = aptGet('install', '-y', '-q', '--no-install-recommends', 'pgbouncer');
  if (result.status !== 0) {
    aptGet('update', '-q');
    result = aptGet('install', '-y', '-q', '--no-install-recommends', 'pgbouncer');
  }
  if (result.status !== 0)
    return `apt-get install pgbouncer failed: ${result.stderr.trim().split('\n').pop()}`;
  // Debian enables its own service on install; ours runs on its own config and port only.
  asRoot('systemctl', ['disable', '--now', 'pgbouncer']);
  return undefined;
}

/** "1.18.0" >= "1.21"? */
export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * Starts the pooler in front of `target` (host, port, user of the bench's PostgreSQL), its
 * files in a folder of its own (the postgres user must reach it: not under the bench's
 * private work folder), removed by `stop()`. Returns the reason instead when it cannot be
 * installed or started.
 */
export async function startPgBouncer(input: {
  target: { host: string; port: number; user: string };
  poolSize: number;
  log: (message: string) => void;
}): Promise<PgBouncer | { unavailable: string }> {
  let binary = findBinary();
  if (!binary) {
    const failed = install(input.log);
    if (failed) return { unavailable: failed };
    binary = findBinary();
    if (!binary) return { unavailable: 'pgbouncer not found after apt-get install' };
  }
  const versionRun = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  const version = /PgBouncer (\S+)/.exec(versionRun.stdout)?.[1];
  if (!version) return { unavailable: `${binary} --version said: ${versionRun.stdout || versionRun.stderr}` };
  const preparedStatements = versionAtLeast(version, '1.21');

  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-pgbouncer-'));
  const logFile = join(dir, 'pgbouncer.log');
  const ini = join(dir, 'pgbouncer.ini');
  const userlist = join(dir, 'userlist.txt');
  await writeFile(userlist, `"${input.target.user}" ""\n`);
  await writeFile(
    ini,
    [
      '[databases]',
      `* = host=${input.target.host} port=${input.target.port}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${userlist}`,
      'pool_mode = transaction',
      'max_client_conn = 1000',
      `default_pool_size = ${input.poolSize}`,
      `logfile = ${logFile}`,
      // postgres.js sends extra_float_digits in its startup packet; PgBouncer refuses unknown ones.
      'ignore_startup_parameters = extra_float_digits',
      // >= 1.21: keep the server's named statements across server connections (0 = off, the default).
      ...(preparedStatements ? ['max_prepared_statements = 200'] : []),
      '',
    ].join('\n'),
  );
  // PgBouncer refuses to run as root: as root, it drops to the postgres user (-u), which must
  // be able to read its config and write its log.
  const root = process.getuid?.() === 0;
  if (root) {
    const { uid, gid } = postgresUser();
    if (uid === undefined) {
      await rm(dir, { recursive: true, force: true });
      return { unavailable: 'running as root and there is no postgres user to run pgbouncer as' };
    }
    for (const path of [dir, ini, userlist]) await chown(path, uid, gid!);
  }
  const child = trackChild(
    spawn(binary, [...(root ? ['-u', 'postgres'] : []), ini], { stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT: PgBouncer's safe shutdown (waits for in-flight transactions); SIGKILL after 5 s.
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Ready when a query goes through it (to the `postgres` database: a server connection kept
  // open to the scratch database would not matter, it is dropped WITH (FORCE) at the end).
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const probe = postgres({
      host: '127.0.0.1',
      port,
      user: input.target.user,
      database: 'postgres',
      max: 1,
      connect_timeout: 2,
      prepare: false,
      onnotice: () => {},
    });
    try {
      await probe`SELECT 1`;
      await probe.end({ timeout: 1 });
      return { port, pid: child.pid!, version, preparedStatements, poolSize: input.poolSize, logFile, stop };
    } catch (error) {
      last = (error as Error).message;
      await probe.end({ timeout: 1 }).catch(() => {});
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  const log = await readFile(logFile, 'utf8').catch(() => '');
  await stop();
  // Its own last word (a FATAL line in stderr or the log) says more than the refused connection.
  const said = (stderr.trim() || log.trim())
    .split('\n')
    .pop()
    ?.replace(/^.*?(FATAL|ERROR)\s*/, '');
  return { unavailable: `pgbouncer ${version} did not start: ${said || last || 'no answer'}`.slice(0, 160) };
}

function postgresUser(): { uid?: number; gid?: number } {
  const result = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (result.status !== 0 || group.status !== 0) return {};
  return { uid: Number(result.stdout.trim()), gid: Number(group.stdout.trim()) };
}
