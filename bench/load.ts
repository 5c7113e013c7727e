/**
 * The load generator, run by bench/run.ts in its own process (`node --import tsx bench/load.ts
 * [spec.json]`, the spec on stdin when no file is named), so that it does not share an event loop with the server or with the bench's
 * own baselines. It drives autocannon 9 and writes JSON lines on stdout: {"event":"started"}
 * once the measured run has begun, then {"event":"result",...}. SIGTERM ends the run early
 * (the storm's login load is stopped this way once the refresh measurement is over).
 *
 * Modes:
 *   refresh: POST /v1/auth/refresh. Each connection owns one session: its first request sends
 *            one of the spec's refresh tokens and every later one sends the token the previous
 *            response of THAT connection returned (a rotation chain per connection), with
 *            autocannon's own `requests` / `setupRequest` / `onResponse`. Where the chain is
 *            kept: not in autocannon's per-connection `context`, which autocannon resets every
 *            time a connection has gone through the whole `requests` array (requestIterator.js:
 *            "when looping over available request, clear context"), i.e. before every request
 *            with a one-entry array. Instead, each connection's Client deep-clones the options
 *            (httpClient.js: `this.opts = clone(opts)`), so each connection has its own copy of
 *            the request object; `onResponse` is called as a method of that copy (`this`), and
 *            `setupRequest` receives a shallow copy of it: a property set on `this` in
 *            `onResponse` is what the next `setupRequest` of the same connection reads.
 *            (Checked against autocannon 9.0.0; a long `requests` array would keep the context
 *            alive too, but autocannon deep-clones that array once per connection, seconds of
 *            start-up with 32 connections.) The server runs with REFRESH_REUSE_GRACE=0, so a
 *            request that carried a stale or another connection's token would be a 401, not a
 *            200: "non-2xx = 0" proves the chaining.
 *   login:   POST /v1/auth/login, round-robin over the spec's users (a shared counter, so the
 *            connections do not all hit the same user's row lock at once).
 *
 * Latency percentiles are computed here from autocannon's per-response times (float ms):
 * autocannon's own histogram has a resolution of 1 ms, too coarse for a sub-millisecond p50.
 */
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadSpec {
  mode: 'refresh' | 'login';
  base: string;
  connections: number;
  durationSeconds: number;
  /** A warm-up run first (not measured), on its own sessions: `tokens` holds 2 × connections then. */
  warmupSeconds: number;
  tokens?: string[];
  users?: { email: string; password: string }[];
  /** Requests per second over all connections (autocannon's overallRate); unset: as fast as answered. */
  overallRate?: number;
}

export interface LoadResult {
  mode: LoadSpec['mode'];
  connections: number;
  durationSeconds: number;
  responses: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  perSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  statusCounts: Record<string, number>;
  firstFailures: string[];
  /** CPU-seconds per second this load generator used during the run (user + system). */
  cpuPerSecond: number;
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

/** A connection's own request object (see above) carries its chain. */
type Chained = { chain?: string };

function refreshRequests(tokens: string[], failures: string[]): autocannon.Request[] {
  let assigned = 0;
  return [
    {
      method: 'POST',
      path: '/v1/auth/refresh',
      headers: { 'content-type': 'application/json' },
      setupRequest(req) {
        const token = (req as Chained).chain ?? tokens[assigned++];
        if (!token) throw new Error('more connections than sessions prepared');
        return { ...req, body: JSON.stringify({ refresh_token: token }) };
      },
      onResponse(this: Chained, status: number, body: string) {
        if (status === 200) {
          this.chain = (JSON.parse(body) as { refresh_token: string }).refresh_token;
        } else if (failures.length < 5) {
          failures.push(`${status} ${body.slice(0, 200)}`);
        }
      },
    },
  ];
}

function loginRequests(users: NonNullable<LoadSpec['users']>, failures: string[]): autocannon.Request[] {
  let next = 0;
  return [
    {
      method: 'POST',
      path: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      setupRequest(req) {
        const user = users[next++ % users.length]!;
        return { ...req, body: JSON.stringify({ email: user.email, password: user.password }) };
      },
      onResponse(status, body) {
        if (status !== 200 && failures.length < 5) failures.push(`${status} ${body.slice(0, 200)}`);
      },
    },
  ];
}

/** SIGTERM ends the current run early (autocannon's stop), and the result is still written. */
let current: autocannon.Instance | undefined;
process.on('SIGTERM', () => current?.stop());

async function runOnce(spec: LoadSpec, seconds: number, tokens: string[], announce: boolean) {
  const failures: string[] = [];
  const times: number[] = [];
  const requests =
    spec.mode === 'refresh' ? refreshRequests(tokens, failures) : loginRequests(spec.users!, failures);
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: spec.base,
        connections: spec.connections,
        pipelining: 1,
        duration: seconds,
        timeout: 30,
        requests,
        ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
  current = instance;
  // autocannon emits (client, statusCode, resBytes, responseTime); @types/autocannon leaves out the client.
  (instance as unknown as EventEmitter).on(
    'response',
    (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      times.push(responseTime);
    },
  );
  if (announce) {
    instance.on('start', () => process.stdout.write(`${JSON.stringify({ event: 'started' })}\n`));
  }
  const cpuBefore = process.cpuUsage();
  const result = await done;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(times).sort();
  const statusCounts: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCounts[code] = stats.count ?? 0;
  }
  const out: LoadResult = {
    mode: spec.mode,
    connections: spec.connections,
    durationSeconds: result.duration,
    responses: times.length,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    perSecond: result['2xx'] / result.duration,
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
      mean: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
    },
    statusCounts,
    firstFailures: failures,
    cpuPerSecond: (cpu.user + cpu.system) / 1e6 / result.duration,
  };
  return out;
}

const source = process.argv[2];
const spec = JSON.parse(readFileSync(!source || source === '-' ? 0 : source, 'utf8')) as LoadSpec;
const tokens = spec.tokens ?? [];
let warmup: LoadResult | undefined;
if (spec.warmupSeconds > 0) {
  warmup = await runOnce(spec, spec.warmupSeconds, tokens.slice(spec.connections), false);
}
const result = await runOnce(spec, spec.durationSeconds, tokens.slice(0, spec.connections), true);
process.stdout.write(`${JSON.stringify({ event: 'result', result, warmup })}\n`);
