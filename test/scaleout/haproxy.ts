import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../support/ports.js';

/**
 * A private HAProxy (Debian's package) in front of several Latchkey instances: its own
 * config in a temporary directory, its own port on 127.0.0.1, run in the foreground (`-db`)
 * as a child of the test, its log on stdout. Nothing of Debian's service is used.
 *
 * The config is what an operator would run in front of several instances:
 *   - roundrobin, a health check on GET /health every second (500 ms while changing state;
 *     3 failures: down, 2 successes: up again), and `observe layer4` with `on-error
 *     mark-down`: a refused or reset connection marks the server down at once, before the
 *     next check (a killed instance refuses connections: it is noticed at its first one);
 *   - `retries 3` with `option redispatch 1`: a request whose connection to a server fails
 *     (refused: the instance is gone) is sent to another server at once. HAProxy's default
 *     `retry-on conn-failure` retries only requests that never reached a server; a request a
 *     server had taken when it died is not resent (a login or a register is not idempotent),
 *     so its client gets a 502, or its kept-alive client connection is closed without an
 *     answer (HAProxy's way when it was not the connection's first request, unlogged): those,
 *     and only those, are the answers a dead instance may lose;
 *   - `option http-server-close`: a new connection to the server for each request (cheap on a
 *     private network). With kept-alive server connections two races lose requests that
 *     never reached a dead instance: a request sent on an idle connection to an instance
 *     just killed, before HAProxy has read its close, and one sent on an idle connection just
 *     as the instance's keep-alive timeout closes it. Both end as a connection closed without an
 *     answer; the second was seen about once a run while Latchkey kept Node's 5 s default
 *     (it now sets 65 s: src/entry/node.ts);
 *   - a 1 s connect timeout and a 3 s check timeout: short enough to notice a hung host in
 *     seconds, long enough that a busy instance on a loaded machine (CI: 2 cores for three
 *     servers, HAProxy and the clients) is not taken for a dead one;
 *   - `option forwardfor`: the client's address in X-Forwarded-For, for the servers'
 *     TRUSTED_IP_HEADER=x-forwarded-for (they take the right-most entry, the one HAProxy adds);
 *   - a response header naming the server that answered (x-latchkey-instance), for the test.
 *
 * Every request is logged as one line (`req <accept s> <ms> <handshake ms> <idle ms> <server>
 * <status> <termination state> <retries> <active ms> <method> <path>`), and every change of a server's state as
 * HAProxy's own "Server latchkey/<name> is UP|DOWN" line; both are parsed here.
 */

/** HAProxy on PATH or where Debian installs it; undefined when it is not installed. */
export function haproxyBinary(): string | undefined {
  const candidates = [
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'haproxy')),
    '/usr/sbin/haproxy',
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface Backend {
  name: string;
  port: number;
}

/** One request as HAProxy logged it. */
export interface LoggedRequest {
  /** When HAProxy received its first byte (ms since the epoch, the test's clock). */
  requestAt: number;
  /** The server that answered (or `<NOSRV>`). */
  server: string;
  status: number;
  /** Termination state, e.g. `----` (normal), `SH--` (the server aborted before headers). */
  termination: string;
  /** Connection retries (`+n` when redispatched to another server). */
  retries: string;
  totalMs: number;
  method: string;
  path: string;
}

export interface StateChange {
  /** When the test read the line (ms since the epoch). */
  at: number;
  server: string;
  state: 'UP' | 'DOWN';
  line: string;
}

/** Each server accepts at most this many requests at once (the rest wait in HAProxy's queue). */
export const SERVER_MAXCONN = 32;

const REQUEST_LINE = /^req (\d+) (\d+) (-?\d+) (-?\d+) (\S+) (-?\d+) (\S{4}) (\+?-?\d+) (-?\d+) (\S+) (\S+)$/;
const STATE_LINE = /Server latchkey\/(\S+) is (UP|DOWN)\b/;

function config(port: number, backends: Backend[]): string {
  return `global
  log stdout format raw local0 info
  maxconn 4096

defaults
  mode http
  log global
  log-format "req %Ts %ms %Th %Ti %s %ST %tsc %rc %Ta %HM %HP"
  option redispatch 1
  option http-server-close
  retries 3
  timeout connect 1s
  timeout client 30s
  timeout server 20s
  timeout queue 15s
  timeout check 3s
  timeout http-keep-alive 30s

frontend latchkey_front
  bind 127.0.0.1:${port}
  option forwardfor
  default_backend latchkey

backend latchkey
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
  http-response set-header x-latchkey-instance %[srv_name]
  default-server inter 1s fastinter 500ms downinter 500ms rise 2 fall 3 maxconn ${SERVER_MAXCONN} observe layer4 error-limit 1 on-error mark-down
${backends.map((backend) => `  server ${backend.name} 127.0.0.1:${backend.port} check`).join('\n')}
`;
}

export class Haproxy {
  readonly requests: LoggedRequest[] = [];
  readonly changes: StateChange[] = [];
  private text = '';
  private partial = '';
  private exitInfo: string | undefined;
  private readonly watchers = new Set<() => void>();
  readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = `code ${code}, signal ${signal}`;
        process.off('exit', killOnExit);
        this.notify();
        resolve();
      });
    });
    child.stdout?.on('data', (chunk: Buffer) => this.read(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.read(chunk));
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** HAProxy's own output (warnings, state changes), without the request lines. */
  output(): string {
    return this.text;
  }

  private read(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    const now = Date.now();
    for (const line of lines) {
      const request = REQUEST_LINE.exec(line);
      if (request) {
        // The request's first byte came when its connection was accepted (%Ts seconds, %ms
        // milliseconds) plus the handshake (%Th) and the idle time before it on a kept-alive
        // connection (%Ti). HAProxy 2.6 has no request_date sample to log it directly.
        const [
          ,
          acceptS,
          acceptMs,
          handshake,
          idle,
          server,
          status,
          termination,
          retries,
          total,
          method,
          path,
        ] = request;
        this.requests.push({
          requestAt:
            Number(acceptS) * 1000 +
            Number(acceptMs) +
            Math.max(0, Number(handshake)) +
            Math.max(0, Number(idle)),
          server: server!,
          status: Number(status),
          termination: termination!,
          retries: retries!,
          totalMs: Number(total),
          method: method!,
          path: path!,
        });
        continue;
      }
      const state = STATE_LINE.exec(line);
      if (state) this.changes.push({ at: now, server: state[1]!, state: state[2] as 'UP' | 'DOWN', line });
      if (line.trim()) this.text = `${this.text}${line}\n`.slice(-64 * 1024);
    }
    this.notify();
  }

  private notify(): void {
    for (const watcher of this.watchers) watcher();
  }

  /**
   * Resolves with the first value `find` returns once HAProxy has logged it (checked on every
   * line HAProxy writes, no polling); rejects after `timeoutMs` or when HAProxy exits.
   */
  until<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error, value?: T) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (error) reject(error);
        else resolve(value as T);
      };
      const check = () => {
        const value = find();
        if (value !== undefined) done(undefined, value);
        else if (!this.running) done(new Error(`HAProxy exited (${this.exitInfo}) waiting for ${what}`));
      };
      const timer = setTimeout(
        () => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${this.text}`)),
        timeoutMs,
      );
      this.watchers.add(check);
      check();
    });
  }

  /** The first change of `server` to `state` at or after `since`. */
  changed(server: string, state: 'UP' | 'DOWN', since: number): StateChange | undefined {
    return this.changes.find(
      (change) => change.server === server && change.state === state && change.at >= since,
    );
  }

  /** Starts HAProxy and resolves once every backend is UP (checked by HAProxy itself). */
  static async start(
    binary: string,
    backends: Backend[],
    options: { port?: number; timeoutMs?: number } = {},
  ): Promise<Haproxy> {
    const port = options.port ?? (await freePort());
    const timeoutMs = options.timeoutMs ?? 20_000;
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-scaleout-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    await writeFile(file, config(port, backends));
    const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const haproxy = new Haproxy(child, port, dir);
    try {
      // Polled like the servers' own start (test/support/ports.ts): GET /health through the
      // proxy until each backend has answered 200 (roundrobin hands successive requests to
      // successive servers; the answering one names itself in x-latchkey-instance).
      const seen = new Set<string>();
      const deadline = Date.now() + timeoutMs;
      while (!backends.every((backend) => seen.has(backend.name))) {
        if (!haproxy.running) throw new Error(`HAProxy exited (${haproxy.exitInfo}):\n${haproxy.text}`);
        if (Date.now() > deadline) {
          throw new Error(`HAProxy did not reach every backend within ${timeoutMs} ms:\n${haproxy.text}`);
        }
        try {
          const response = await fetch(`${haproxy.base}/health`, { signal: AbortSignal.timeout(2_000) });
          await response.arrayBuffer();
          const instance = response.headers.get('x-latchkey-instance');
          if (response.status === 200 && instance) seen.add(instance);
        } catch {
          // not listening yet
        }
        if (seen.size < backends.length) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return haproxy;
    } catch (error) {
      await haproxy.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
