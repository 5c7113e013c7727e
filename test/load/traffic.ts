/**
 * The load test's HTTP side: a bounded number of requests in flight, a timeout on every
 * request, a run-wide deadline, and a record of every request (route, times, outcome, what
 * was expected) for the checks and the summary afterwards.
 */

import { jsonOf } from '../faults/harness.js';

export type LoadOutcome =
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  | { kind: 'response'; status: number; json: any; text: string }
  | { kind: 'network' | 'timeout' | 'aborted'; message: string };

export interface Expected {
  status: number;
  /** The `error` field of the body, for error statuses. */
  error?: string;
}

export interface Sample {
  /** Method and route template, e.g. `DELETE /v1/sessions/{id}`. */
  route: string;
  /** Who sent it and why, for messages. */
  label: string;
  expected: Expected;
  /** Date.now() when the request was handed to fetch, and when its body was read. */
  sentAt: number;
  receivedAt: number;
  outcome: LoadOutcome;
  /** The refresh token presented, for POST /v1/auth/refresh. */
  presented?: string;
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  route: string;
  label: string;
  expected: Expected;
  body?: unknown;
  token?: string;
  presented?: string;
}

/** Counting semaphore, first come first served; `acquire(n)` takes n slots at once. */
export class Limiter {
  private active = 0;
  private readonly waiting: { n: number; resolve: () => void }[] = [];

  constructor(readonly max: number) {}

  acquire(n: number): Promise<void> {
    if (n > this.max) throw new Error(`cannot take ${n} of ${this.max} slots`);
    if (this.waiting.length === 0 && this.active + n <= this.max) {
      this.active += n;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ n, resolve }));
  }

  release(n: number): void {
    this.active -= n;
    for (let next = this.waiting[0]; next && this.active + next.n <= this.max; next = this.waiting[0]) {
      this.waiting.shift();
      this.active += next.n;
      next.resolve();
    }
  }
}

export const isStatus = (sample: Sample, status: number): boolean =>
  sample.outcome.kind === 'response' && sample.outcome.status === status;

/** Whether the answer is the expected one (status, and error code when one is expected). */
export const asExpected = (sample: Sample): boolean =>
  sample.outcome.kind === 'response' &&
  sample.outcome.status === sample.expected.status &&
  (sample.expected.error === undefined || sample.outcome.json?.error === sample.expected.error);

export const explain = (sample: Sample): string => {
  const { outcome } = sample;
  const got =
    outcome.kind === 'response'
      ? `${outcome.status} ${outcome.text.slice(0, 200)}`
      : `${outcome.kind}: ${outcome.message}`;
  const wanted = `${sample.expected.status}${sample.expected.error ? ` ${sample.expected.error}` : ''}`;
  return `${sample.route} (${sample.label}): expected ${wanted}, got ${got} after ${sample.receivedAt - sample.sentAt} ms`;
};

export class Traffic {
  readonly samples: Sample[] = [];
  private readonly limiter: Limiter;

  constructor(
    readonly base: string,
    options: { concurrency: number; timeoutMs: number; deadline: AbortSignal },
  ) {
    this.limiter = new Limiter(options.concurrency);
    this.timeoutMs = options.timeoutMs;
    this.deadline = options.deadline;
  }

  private readonly timeoutMs: number;
  private readonly deadline: AbortSignal;

  /** One request, when a slot is free. */
  async send(spec: RequestSpec): Promise<Sample> {
    const [sample] = await this.together([spec]);
    return sample!;
  }

  /**
   * One request, unless its slot comes after `notAfter` (a Date.now() value): then it is not
   * sent, nothing is recorded, and the answer is undefined.
   */
  async sendBefore(spec: RequestSpec, notAfter: number): Promise<Sample | undefined> {
    await this.limiter.acquire(1);
    try {
      return Date.now() > notAfter ? undefined : await this.fire(spec);
    } finally {
      this.limiter.release(1);
    }
  }

  /** Requests sent at the same moment: their slots are taken together, then all are fired. */
  async together(specs: RequestSpec[]): Promise<Sample[]> {
    await this.limiter.acquire(specs.length);
    try {
      return await Promise.all(specs.map((spec) => this.fire(spec)));
    } finally {
      this.limiter.release(specs.length);
    }
  }

  private async fire(spec: RequestSpec): Promise<Sample> {
    const headers: Record<string, string> = {};
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    if (spec.token) headers.authorization = `Bearer ${spec.token}`;
    const sentAt = Date.now();
    let outcome: LoadOutcome;
    if (this.deadline.aborted) {
      outcome = { kind: 'aborted', message: 'not sent: the run deadline had passed' };
    } else {
      try {
        const response = await fetch(`${this.base}${spec.path}`, {
          method: spec.method,
          headers,
          ...(spec.body !== undefined ? { body: JSON.stringify(spec.body) } : {}),
          signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.deadline]),
        });
        const text = await response.text();
        outcome = { kind: 'response', status: response.status, json: jsonOf(text), text };
      } catch (error) {
        const err = error as Error & { cause?: { code?: string; message?: string } };
        if (err.name === 'TimeoutError') {
          outcome = { kind: 'timeout', message: `no answer within ${this.timeoutMs} ms` };
        } else if (this.deadline.aborted) {
          outcome = { kind: 'aborted', message: 'cut off by the run deadline' };
        } else {
          const cause = err.cause ? ` (${err.cause.code ?? ''} ${err.cause.message ?? ''})` : '';
          outcome = { kind: 'network', message: `${err.message}${cause}` };
        }
      }
    }
    const sample: Sample = {
      route: spec.route,
      label: spec.label,
      expected: spec.expected,
      sentAt,
      receivedAt: Date.now(),
      outcome,
      ...(spec.presented !== undefined ? { presented: spec.presented } : {}),
    };
    this.samples.push(sample);
    return sample;
  }
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Requests by route and status, and p50/p99/max latency per route, as printable lines. */
export function summarize(samples: Sample[]): string[] {
  const byRoute = new Map<string, Sample[]>();
  for (const sample of samples) {
    const list = byRoute.get(sample.route) ?? [];
    list.push(sample);
    byRoute.set(sample.route, list);
  }
  const width = Math.max(...[...byRoute.keys()].map((route) => route.length));
  const lines: string[] = [];
  for (const [route, list] of [...byRoute.entries()].sort((a, b) => b[1].length - a[1].length)) {
    const statuses = new Map<string, number>();
    for (const sample of list) {
      const key = sample.outcome.kind === 'response' ? String(sample.outcome.status) : sample.outcome.kind;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    const durations = list.map((sample) => sample.receivedAt - sample.sentAt).sort((a, b) => a - b);
    const counts = [...statuses.entries()]
      .sort()
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    lines.push(
      `${route.padEnd(width)}  ${String(list.length).padStart(5)}  p50 ${String(percentile(durations, 50)).padStart(4)} ms` +
        `  p99 ${String(percentile(durations, 99)).padStart(4)} ms  max ${String(durations.at(-1)).padStart(5)} ms  ${counts}`,
    );
  }
  return lines;
}
