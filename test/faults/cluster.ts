import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../support/ports.js';

/**
 * A private PostgreSQL cluster for the fault tests: its own data directory under /tmp, its
 * own port on 127.0.0.1 and its own socket directory, so a test may stop, kill and restart it
 * without touching any other database on the machine.
 *
 * initdb refuses to run as root, so as root (CI) every PostgreSQL binary runs as the
 * `postgres` user through runuser, on a directory that user owns.
 */

const PG_ROOT = '/usr/lib/postgresql';

/** The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql. */
function binDirectory(): string {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(PG_ROOT, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const version = versions[0];
  if (!version) throw new Error(`no PostgreSQL with bin/initdb under ${PG_ROOT}`);
  return join(PG_ROOT, version, 'bin');
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary (as `postgres` when we are root); rejects with its output. */
function runPg(binary: string, args: string[], cwd: string): Promise<string> {
  const [command, commandArgs] = isRoot()
    ? ['runuser', ['-u', 'postgres', '--', binary, ...args]]
    : [binary, args];
  return new Promise((resolve, reject) => {
    execFile(
      command as string,
      commandArgs as string[],
      { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${binary} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        } else {
          resolve(`${stdout}${stderr}`);
        }
      },
    );
  });
}

export type StopMode = 'smart' | 'fast' | 'immediate';

export class PgCluster {
  private running = false;

  private constructor(
    private readonly bin: string,
    /** The temporary directory: data directory, socket directory and log file. */
    readonly dir: string,
    readonly port: number,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get logFile(): string {
    return join(this.dir, 'postgres.log');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** initdb in a fresh directory; the cluster is not started. */
  static async create(): Promise<PgCluster> {
    const bin = binDirectory();
    // Under /tmp (world-traversable), readable by the postgres user when we run as root.
    const dir = await mkdtemp('/tmp/latchkey-faults-pg-');
    try {
      await chmod(dir, 0o755);
      if (isRoot()) {
        const { uid, gid } = await postgresUser();
        await chown(dir, uid, gid);
      }
      const cluster = new PgCluster(bin, dir, await freePort());
      await runPg(
        join(bin, 'initdb'),
        ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'],
        dir,
      );
      // Appended as root, the file keeps its owner (postgres).
      await appendFile(
        join(cluster.dataDir, 'postgresql.conf'),
        [
          '',
          '# latchkey fault tests',
          `port = ${cluster.port}`,
          "listen_addresses = '127.0.0.1'",
          `unix_socket_directories = '${dir}'`,
          'fsync = off',
          'max_connections = 100',
          '',
        ].join('\n'),
      );
      return cluster;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** pg_ctl start -w: resolves once the cluster accepts connections. */
  async start(): Promise<void> {
    try {
      await runPg(
        join(this.bin, 'pg_ctl'),
        ['start', '-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60'],
        this.dir,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- postgres.log ---\n${await this.log()}`);
    }
    this.running = true;
  }

  /**
   * pg_ctl stop in the given mode (`fast`: sessions are terminated, `immediate`: a crash,
   * `smart`: new connections are refused with 57P03 while the sessions run on). With
   * `wait: false` it only asks PostgreSQL to stop: see `waitUntilStopped`.
   */
  async stop({ mode, wait = true }: { mode: StopMode; wait?: boolean } = { mode: 'fast' }): Promise<void> {
    await runPg(
      join(this.bin, 'pg_ctl'),
      ['stop', '-D', this.dataDir, '-m', mode, ...(wait ? ['-w', '-t', '60'] : ['-W'])],
      this.dir,
    );
    if (wait) this.running = false;
  }

  /** Resolves once the postmaster has exited (its pid file is gone), polled every 20 ms. */
  async waitUntilStopped(timeoutMs = 60_000): Promise<void> {
    await this.until(
      async () => !existsSync(join(this.dataDir, 'postmaster.pid')),
      'PostgreSQL to stop',
      timeoutMs,
    );
    this.running = false;
  }

  /** Resolves once the server log matches `pattern`, polled every 20 ms. */
  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    await this.until(async () => pattern.test(await this.log()), `${pattern} in the server log`, timeoutMs);
  }

  private async until(ready: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}\n--- postgres.log ---\n${await this.log()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The server log, for failure messages. */
  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Stops the cluster at once (if it may be running) and deletes everything. */
  async destroy(): Promise<void> {
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) {
      await this.stop({ mode: 'immediate' }).catch(() => {});
    }
    this.running = false;
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid) throw new Error('running as root, but there is no postgres user to run initdb as');
  return { uid: Number(uid), gid: Number(gid) };
}
