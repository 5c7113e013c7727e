import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, waitUntilHealthy } from '../support/ports.js';

/**
 * The real Node server (`src/entry/node.ts`) as a child process, on a PostgreSQL given by
 * URL. Settings are those of a test: cheap argon2id, no cleanup timer, rate limits out of
 * the way, and a 60 s refresh reuse grace window so that a restart fits inside it.
 */

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Fixed, so that tokens issued before a restart are derived and sealed with the same keys. */
export const MASTER_SECRET = 'latchkey-fault-tests-master-secret-0123456789abcdef';

/** Keeps the last part of the child's output for failure messages. */
const OUTPUT_LIMIT = 256 * 1024;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ServerProcess {
  private outputText = '';
  private exitInfo: Exit | undefined;
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    // Should the test process end without its afterAll (a crash), the server goes with it.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        process.off('exit', killOnExit);
        resolve(this.exitInfo);
      });
    });
    const collect = (chunk: Buffer) => {
      this.outputText += chunk.toString('utf8');
      if (this.outputText.length > OUTPUT_LIMIT) this.outputText = this.outputText.slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process has not exited yet. */
  get running(): boolean {
    return this.exitInfo === undefined;
  }

  output(): string {
    return this.outputText;
  }

  /** How it exited, for failure messages ("running" while it has not). */
  get exitDescription(): string {
    return this.exitInfo ? `code ${this.exitInfo.code}, signal ${this.exitInfo.signal}` : 'running';
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Starts the server and resolves once GET /health answers 200 (polled, at most
   * `readyTimeoutMs`). `port` keeps the address (and the issuer) of a previous instance.
   */
  static async start(options: {
    databaseUrl: string;
    port?: number;
    readyTimeoutMs?: number;
    /** Overrides any of the settings below (the load test keeps the default 10 s grace window). */
    env?: Record<string, string>;
  }): Promise<ServerProcess> {
    const port = options.port ?? (await freePort());
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'development',
        DATABASE_URL: options.databaseUrl,
        MIGRATE_ON_START: 'true',
        PORT: String(port),
        HOST: '127.0.0.1',
        ISSUER: `http://127.0.0.1:${port}`,
        MASTER_SECRET,
        ARGON2_MEMORY_KIB: '1024',
        ARGON2_TIME_COST: '1',
        REGISTRATIONS_PER_IP: '1000000',
        REFRESH_FAILURES_PER_IP: '1000000',
        LOGIN_FAILURES_PER_IP: '1000000',
        REFRESH_REUSE_GRACE: '60',
        LOG_LEVEL: 'warn',
        CLEANUP_INTERVAL: '0',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, port);
    try {
      await server.waitUntilHealthy(options.readyTimeoutMs ?? 60_000);
      return server;
    } catch (error) {
      server.kill('SIGKILL');
      await server.exited;
      throw error;
    }
  }

  /** Polls GET /health every 100 ms until 200, the process exits, or the bound passes. */
  async waitUntilHealthy(timeoutMs = 60_000): Promise<void> {
    await waitUntilHealthy({
      base: this.base,
      timeoutMs,
      pollMs: 100,
      exited: () => (this.running ? undefined : JSON.stringify(this.exitInfo)),
      output: () => this.outputText,
    });
  }
}
