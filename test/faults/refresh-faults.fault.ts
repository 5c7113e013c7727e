import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgCluster } from './cluster.js';
import {
  audit,
  type Call,
  condition,
  makeSessions,
  type Outcome,
  rotatedTokens,
  type SessionClient,
  send,
  show,
} from './harness.js';
import { ServerProcess } from './server.js';

/**
 * Refresh-token rotation under faults, on the real Node server and a private PostgreSQL
 * cluster: the server killed mid-stream, PostgreSQL stopped under load, an answer dropped.
 * Afterwards every client retries the refresh token it last sent and must get a 200, and
 * the database must show exactly one live token per session: the client's.
 */

let cluster: PgCluster | undefined;
let server: ServerProcess | undefined;

beforeAll(async () => {
  cluster = await PgCluster.create();
  await cluster.start();
  server = await ServerProcess.start({ databaseUrl: cluster.url });
});

afterAll(async () => {
  try {
    if (server?.running) {
      server.kill('SIGKILL');
      await server.exited;
    }
  } finally {
    await cluster?.destroy();
  }
});

/**
 * The cluster and a healthy server, whatever a failed earlier test left behind. When the
 * cluster has to be started again, so is the server: a fresh connection pool, so that one
 * test's findings about recovery do not spill into the next test.
 */
async function ensureUp(): Promise<{ cluster: PgCluster; server: ServerProcess }> {
  if (!cluster) throw new Error('no cluster: beforeAll failed');
  if (!cluster.isRunning) {
    await cluster.start();
    if (server?.running) {
      server.kill('SIGKILL');
      await server.exited;
    }
  }
  if (server?.running) {
    await server.waitUntilHealthy(60_000);
  } else {
    server = await ServerProcess.start({
      databaseUrl: cluster.url,
      ...(server ? { port: server.port } : {}),
    });
  }
  return { cluster, server };
}

/** The server's REFRESH_REUSE_GRACE (server.ts), for diagnostics. */
const GRACE_MS = 60_000;

const isStatus = (outcome: Outcome, status: number) =>
  outcome.kind === 'response' && outcome.status === status;

const listCalls = (calls: Call[]) => calls.map((call) => `${call.label}: ${show(call.outcome)}`);

/** Every client retries the refresh token it last sent; returns the problems. */
async function retryLastSent(base: string, clients: SessionClient[]): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    clients.map(async (client) => {
      if (!client.lastSent) {
        problems.push(`session ${client.sessionId}: never sent a refresh`);
        return;
      }
      // One try: once /health is 200 again, no request may fail, whatever the pooled
      // connections kept from the outage (src/adapters/db/retry-stale.ts, reconnect.fault.ts).
      const outcome = await send(base, '/v1/auth/refresh', { body: { refresh_token: client.lastSent } });
      if (!isStatus(outcome, 200) || outcome.kind !== 'response') {
        const since = client.answeredAt === undefined ? undefined : Date.now() - client.answeredAt;
        const note =
          client.lastSentAnswered && since !== undefined && since > GRACE_MS
            ? ` (its last rotation was ${Math.round(since / 1000)} s ago, past the ${GRACE_MS / 1000} s grace window: a consequence of the slow requests above)`
            : '';
        problems.push(
          `session ${client.sessionId}: retry of its last sent token got ${show(outcome)}${note}`,
        );
        return;
      }
      if (outcome.json.session_id !== client.sessionId) {
        problems.push(`session ${client.sessionId}: retry answered for session ${outcome.json.session_id}`);
      }
      // The client did get the answer to that request: the retry must hand out the same successor.
      if (client.lastSentAnswered && outcome.json.refresh_token !== client.token) {
        problems.push(`session ${client.sessionId}: retry inside the grace window forked the session`);
      }
      client.token = outcome.json.refresh_token;
      client.access = outcome.json.access_token;
      client.lastSentAnswered = true;
      client.answeredAt = Date.now();
    }),
  );
  return problems;
}

describe('refresh rotation under faults (real server, private PostgreSQL)', () => {
  it('a server killed (SIGKILL) in the middle of a stream of refreshes loses no session', async () => {
    const up = await ensureUp();
    const killed = up.server;
    const base = killed.base;
    const clients = await makeSessions(base, 10, 2, 'kill');

    const KILL_AFTER = 200;
    const calls: Call[] = [];
    let successes = 0;
    let inFlight = 0;
    let inFlightAtKill = -1;

    // One loop per session, each keeping its latest token, until its first failure.
    const loop = async (client: SessionClient): Promise<Outcome> => {
      for (;;) {
        client.lastSent = client.token;
        client.lastSentAnswered = false;
        inFlight++;
        const outcome = await send(base, '/v1/auth/refresh', { body: { refresh_token: client.lastSent } });
        inFlight--;
        calls.push({ label: `refresh ${client.sessionId}`, outcome });
        if (outcome.kind !== 'response' || outcome.status !== 200) return outcome;
        client.token = outcome.json.refresh_token;
        client.access = outcome.json.access_token;
        client.lastSentAnswered = true;
        client.answeredAt = Date.now();
        successes++;
        if (successes === KILL_AFTER) {
          inFlightAtKill = inFlight;
          killed.kill('SIGKILL');
        }
      }
    };
    const endings = await Promise.all(clients.map(loop));
    const exit = await killed.exited;

    expect(exit.signal, 'the server was killed by our SIGKILL').toBe('SIGKILL');
    expect(successes).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(inFlightAtKill, 'refreshes in flight when the server was killed').toBeGreaterThan(0);
    // Before the kill every refresh succeeded; each loop then stopped on a network error
    // (not on an HTTP error, and not on a hang).
    expect(
      listCalls(calls.filter((call) => call.outcome.kind === 'response' && call.outcome.status !== 200)),
    ).toEqual([]);
    expect(endings.filter((outcome) => outcome.kind !== 'network').map(show)).toEqual([]);

    // For the report: how many sessions had their last request rotated by the killed
    // server, its answer lost with it.
    const lost = await rotatedTokens(
      up.cluster.url,
      clients.map((client) => client.lastSent!),
    );

    server = await ServerProcess.start({ databaseUrl: up.cluster.url, port: killed.port });
    const retryProblems = await retryLastSent(server.base, clients);
    expect(retryProblems).toEqual([]);
    expect(await audit(up.cluster.url, clients)).toEqual([]);
    console.info(
      `[faults] SIGKILL after ${successes} refreshes with ${inFlightAtKill} in flight; ` +
        `${lost.size} of ${clients.length} sessions had their last refresh committed but unanswered`,
    );
  });

  it('PostgreSQL stopped under load: 503 temporarily_unavailable at once, then nothing lost', async () => {
    const up = await ensureUp();
    const base = up.server.base;
    const clients = await makeSessions(base, 5, 2, 'pgstop');

    type Phase = 'up' | 'stopping' | 'down' | 'done';
    let phase: Phase = 'up';
    /** `phase`: when the request was sent; `endPhase`: when its outcome came. */
    const calls: (Call & { phase: Phase; endPhase: Phase })[] = [];
    let successes = 0;
    const DOWN_ANSWERS = 3;
    const downAnswers = new Map(clients.map((client) => [client, { refresh: 0, me: 0 }]));
    const ended = new Set<SessionClient>();

    const underLoad = condition(() => successes >= 100, '100 successful requests');
    const outageSeen = condition(
      () =>
        clients.every((client) => {
          const seen = downAnswers.get(client)!;
          return ended.has(client) || (seen.refresh >= DOWN_ANSWERS && seen.me >= DOWN_ANSWERS);
        }),
      `${DOWN_ANSWERS} answers to refresh and to /v1/users/me per client while PostgreSQL is down`,
    );
    const record = (client: SessionClient, kind: 'refresh' | 'me', started: Phase, outcome: Outcome) => {
      calls.push({
        label: `${started} ${kind} ${client.sessionId}`,
        outcome,
        phase: started,
        endPhase: phase,
      });
      if (isStatus(outcome, 200)) successes++;
      if (started === 'down' && isStatus(outcome, 503)) downAnswers.get(client)![kind]++;
      underLoad.check();
      outageSeen.check();
    };

    // Each loop refreshes, then reads /v1/users/me with its latest access token, until told
    // to stop or until a request fails without an HTTP answer (a finding).
    const loop = async (client: SessionClient) => {
      try {
        while (phase !== 'done') {
          let started = phase;
          client.lastSent = client.token;
          client.lastSentAnswered = false;
          const refreshed = await send(base, '/v1/auth/refresh', {
            body: { refresh_token: client.lastSent },
          });
          record(client, 'refresh', started, refreshed);
          if (refreshed.kind !== 'response') return;
          if (refreshed.status === 200) {
            client.token = refreshed.json.refresh_token;
            client.access = refreshed.json.access_token;
            client.lastSentAnswered = true;
            client.answeredAt = Date.now();
          }
          started = phase;
          const me = await send(base, '/v1/users/me', { token: client.access });
          record(client, 'me', started, me);
          if (me.kind !== 'response') return;
        }
      } finally {
        ended.add(client);
        outageSeen.check();
      }
    };

    const loops = Promise.all(clients.map(loop));
    const problems: string[] = [];
    try {
      await underLoad.wait(60_000);
      phase = 'stopping';
      await up.cluster.stop({ mode: 'fast' });
      phase = 'down';
      // Bounded: a loop that hangs ends on its 15 s timeout; the checks below say what happened.
      await outageSeen.wait(45_000).catch((error: Error) => problems.push(error.message));
    } finally {
      phase = 'done';
      underLoad.cancel();
      outageSeen.cancel();
      await loops;
    }

    const flag = (what: string, selected: typeof calls) => {
      for (const call of selected) problems.push(`${what}: ${call.label}: ${show(call.outcome)}`);
    };
    // No hang, no lost connection: every request got an HTTP answer.
    flag(
      'hang (no answer in 15 s)',
      calls.filter((call) => call.outcome.kind === 'timeout'),
    );
    flag(
      'no HTTP answer',
      calls.filter((call) => call.outcome.kind === 'network'),
    );
    // Only 200 and 503: never a 500 (nor a 401: no token was lost or reused).
    flag(
      'unexpected status',
      calls.filter(
        (call) =>
          call.outcome.kind === 'response' && !isStatus(call.outcome, 200) && !isStatus(call.outcome, 503),
      ),
    );
    // Every 503 is the contract's temporarily_unavailable.
    flag(
      '503 without error "temporarily_unavailable"',
      calls.filter(
        (call) =>
          isStatus(call.outcome, 503) &&
          (call.outcome.kind !== 'response' || call.outcome.json?.error !== 'temporarily_unavailable'),
      ),
    );
    // Before the stop everything worked; once PostgreSQL was down, nothing did. (A request
    // sent before the stop but answered once it had begun may rightly be a 503.)
    flag(
      'not 200 before the stop',
      calls.filter((call) => call.endPhase === 'up' && !isStatus(call.outcome, 200)),
    );
    flag(
      'a 200 while PostgreSQL was down',
      calls.filter((call) => call.phase === 'down' && isStatus(call.outcome, 200)),
    );
    expect.soft(problems, 'while PostgreSQL was stopped').toEqual([]);
    expect
      .soft(calls.filter((call) => call.phase === 'down' && isStatus(call.outcome, 503)).length)
      .toBeGreaterThan(0);

    const health = await send(base, '/health');
    expect.soft(show(health), 'GET /health while PostgreSQL is down').toMatch(/^503 /);
    expect.soft(health.kind === 'response' && health.json?.status).toBe('unavailable');

    await up.cluster.start();
    await up.server.waitUntilHealthy(60_000);
    expect(up.server.running).toBe(true);

    expect.soft(await retryLastSent(base, clients), 'retries once /health is 200 again').toEqual([]);
    const me = await Promise.all(
      clients.map((client) => send(base, '/v1/users/me', { token: client.access })),
    );
    expect
      .soft(
        me.filter((outcome) => !isStatus(outcome, 200)).map(show),
        'GET /v1/users/me once /health is 200 again',
      )
      .toEqual([]);
    expect(await audit(up.cluster.url, clients)).toEqual([]);
    console.info(
      `[faults] PostgreSQL stop: ${calls.length} requests, ` +
        `${calls.filter((call) => isStatus(call.outcome, 503)).length} answered 503, ` +
        `${calls.filter((call) => call.phase === 'stopping').length} started during the stop`,
    );
  }, 240_000);

  it('a dropped answer: retrying the same refresh token returns the same successor', async () => {
    const up = await ensureUp();
    const base = up.server.base;
    const clients = await makeSessions(base, 3, 1, 'drop');

    for (const client of clients) {
      const first = await send(base, '/v1/auth/refresh', { body: { refresh_token: client.token } });
      expect(show(first)).toMatch(/^200 /);
      // The answer is "lost": the client still holds its old token and sends it again.
      const again = await send(base, '/v1/auth/refresh', { body: { refresh_token: client.token } });
      expect(show(again)).toMatch(/^200 /);
      if (first.kind !== 'response' || again.kind !== 'response') throw new Error('unreachable');
      expect(again.json.session_id).toBe(client.sessionId);
      expect(again.json.refresh_token).toBe(first.json.refresh_token);
      client.lastSent = client.token;
      client.token = again.json.refresh_token;
      client.access = again.json.access_token;
    }
    expect(await audit(up.cluster.url, clients)).toEqual([]);
  });
});
