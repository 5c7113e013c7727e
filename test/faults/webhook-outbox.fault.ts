import { mkdtemp, rm } from 'node:fs/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { openNodeRuntime } from '../../src/entry/node-runtime.js';
import { silentLogger } from '../../src/ports/logger.js';
import { PgCluster } from './cluster.js';
import { makeSessions, PASSWORD, type SessionClient, send, show } from './harness.js';
import { MASTER_SECRET, ServerProcess } from './server.js';
import { type Delivery, FaultReceiver } from './webhook-receiver.js';

/**
 * Webhooks under faults (issue #18, "Done means"): the real Node server as child processes on
 * a private PostgreSQL cluster, a real receiver (webhook-receiver.ts) that verifies every
 * delivery with the `standardwebhooks` package and answers 500, is down (connection refused),
 * holds requests unanswered, and comes back; and `kill -9` of the server that holds the
 * deliveries. Only environment variables go into the servers; the endpoint is registered with
 * the services built in this process on the same database and MASTER_SECRET (the secret sealed
 * as the admin API and the CLI seal it).
 *
 * What is claimed, precisely: deliveries pending when the server is killed, whether never
 * tried, answered 500 and retried (more than one attempt), refused by a receiver that is down,
 * or claimed with the request in flight, all arrive once the receiver is back and the server
 * runs again (two instances at once): every event written by the API has its outbox row, every
 * row ends `sent`, every row's `webhook-id` arrives verified with the row's body and is
 * answered 2xx exactly once (claims are FOR UPDATE SKIP LOCKED with a lease: two instances
 * never both deliver one). The only repeats are the requests that reached the receiver and
 * were never answered (held when the sender died): the same `webhook-id` and the same body
 * again, so a receiver that de-duplicates on the id loses nothing and shows nothing twice.
 *
 * Time passing: the backoff is full jitter from a 30 s base, doubling (outbox-dispatcher.ts),
 * and a dead process's claims last their lease (40 s here). Instead of waiting for them, the
 * test sets `next_attempt_at = now()` on the pending deliveries once the receiver is back and
 * before the server restarts, as if that time had passed. Nothing else is changed in the
 * database by the test.
 */

let cluster: PgCluster | undefined;
let dataDir: string | undefined;
const servers: ServerProcess[] = [];
const receivers: FaultReceiver[] = [];

beforeAll(async () => {
  cluster = await PgCluster.create();
  await cluster.start();
  // The servers' development mail (no SMTP_URL: .eml files) goes here, not into the tree.
  dataDir = await mkdtemp('/tmp/latchkey-faults-webhooks-');
});

afterAll(async () => {
  try {
    for (const server of servers) {
      if (server.running) {
        server.kill('SIGKILL');
        await server.exited;
      }
    }
    for (const receiver of receivers) await receiver.down();
  } finally {
    await cluster?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
});

/** A receiver gets this long (WEBHOOK_TIMEOUT); a claim lasts max(MAIL_LEASE, 4 × it) = 40 s. */
const TIMEOUT_SECONDS = 10;
const NEW_PASSWORD = 'a brand new passphrase 2031';

/** The settings of every server here (and of the services built in this process); the rest are server.ts's. */
function webhookEnv(): Record<string, string> {
  return {
    DATA_DIR: dataDir!,
    MAIL_DISPATCH_INTERVAL: '1',
    MAIL_LEASE: '20',
    // Small batches: a run claims 4 and sends them at once; the rest wait for the next run.
    MAIL_BATCH_SIZE: '4',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_TIMEOUT: String(TIMEOUT_SECONDS),
    // Nothing is given up for good during the test: every delivery must arrive.
    WEBHOOK_RETRY_FOR: String(6 * 3600),
  };
}

async function startServer(databaseUrl: string): Promise<ServerProcess> {
  const server = await ServerProcess.start({ databaseUrl, env: webhookEnv() });
  servers.push(server);
  return server;
}

async function reserveReceiver(): Promise<FaultReceiver> {
  const receiver = await FaultReceiver.reserve();
  receivers.push(receiver);
  return receiver;
}

/** A database of its own, so that its outbox holds this test's deliveries only. */
async function freshDatabase(name: string): Promise<string> {
  const admin = postgres(cluster!.url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(cluster!.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Registers an endpoint for every event type, as an operator would: the services of this
 * process on the servers' database and MASTER_SECRET (`webhooks.createEndpoint`, the call
 * behind POST /v1/admin/webhooks). Returns its id and its secret (shown once).
 */
async function registerEndpoint(databaseUrl: string, url: string): Promise<{ id: string; secret: string }> {
  const config = parseConfig({
    NODE_ENV: 'development',
    DATABASE_URL: databaseUrl,
    MASTER_SECRET,
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'warn',
    ...webhookEnv(),
  });
  const runtime = await openNodeRuntime(config, { deliverMail: false, logger: silentLogger });
  try {
    const { endpoint, secret } = await runtime.services.webhooks.createEndpoint({
      url,
      eventTypes: null,
      description: 'fault test receiver',
    });
    return { id: endpoint.id, secret };
  } finally {
    await runtime.database.close();
  }
}

/** Polls `ready` every `pollMs` until it is true; fails after `timeoutMs` (a bound, not a timing claim). */
async function until(
  ready: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs: number,
  pollMs = 100,
  state: () => Promise<unknown> | unknown = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}\n${JSON.stringify(await state(), null, 1)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function expectSent(
  base: string,
  path: string,
  status: number,
  options: { body?: unknown; token?: string; method?: 'DELETE' },
): Promise<void> {
  const outcome = await send(base, path, options);
  if (outcome.kind !== 'response' || outcome.status !== status) {
    throw new Error(`${path}: expected ${status}, got ${show(outcome)}`);
  }
}

/**
 * The events a phase produces through the HTTP API, as labels `type email session` (what
 * `labelOf` reads back from a delivery's body): each user registered (user.created) and
 * logged in (session.created), then `then` for each.
 */
async function produceEvents(
  base: string,
  users: number,
  label: string,
  then: 'change password' | 'revoke the session' | 'nothing',
): Promise<string[]> {
  const clients: SessionClient[] = await makeSessions(base, users, 1, label);
  const events: string[] = [];
  for (const client of clients) {
    events.push(`user.created ${client.email} -`, `session.created ${client.email} ${client.sessionId}`);
    if (then === 'change password') {
      await expectSent(base, '/v1/users/me/password', 204, {
        body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
        token: client.access,
      });
      events.push(`password.changed ${client.email} -`);
    } else if (then === 'revoke the session') {
      // DELETE /v1/sessions/{id}, not POST /v1/auth/logout: a logout records no security
      // event, so it sends no webhook (docs/webhooks.md: "session.revoked is sent for …").
      await expectSent(base, `/v1/sessions/${client.sessionId}`, 204, {
        method: 'DELETE',
        token: client.access,
      });
      events.push(`session.revoked ${client.email} ${client.sessionId}`);
    }
  }
  return events;
}

interface DeliveryRow {
  type: string;
  webhookId: string;
  status: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  body: string | null;
  /** `type email session` of the event (see produceEvents). */
  label: string;
}

async function deliveryRows(databaseUrl: string, endpointId: string): Promise<DeliveryRow[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const rows = await sql<
      {
        kind: string;
        idempotency_key: string;
        status: string;
        attempts: number;
        last_status: number | null;
        last_error: string | null;
        payload: string | null;
      }[]
    >`
      SELECT kind, idempotency_key, status, attempts, last_status, last_error, payload
        FROM outbox WHERE endpoint_id = ${endpointId}
       ORDER BY created_at, id`;
    const emails = new Map(
      (await sql<{ id: string; email: string }[]>`SELECT id, email FROM users`).map((user) => [
        user.id,
        user.email,
      ]),
    );
    return rows.map((row) => {
      const data = row.payload ? JSON.parse(row.payload).data : {};
      return {
        type: row.kind,
        webhookId: row.idempotency_key,
        status: row.status,
        attempts: Number(row.attempts),
        lastStatus: row.last_status,
        lastError: row.last_error,
        body: row.payload,
        label: `${row.kind} ${emails.get(data.user_id) ?? data.user_id} ${data.session_id ?? '-'}`,
      };
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** As if the backoff and the dead process's leases had run out (see the header): pending deliveries due now. */
async function timePasses(databaseUrl: string, endpointId: string): Promise<number> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const nudged = await sql`
      UPDATE outbox SET next_attempt_at = now()
       WHERE endpoint_id = ${endpointId} AND status = 'pending'`;
    return nudged.count;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const rowsOf = (rows: DeliveryRow[], labels: string[]) => rows.filter((row) => labels.includes(row.label));
const REFUSED = /ECONNREFUSED/;

/**
 * The outbox against what the receiver got: every row `sent`; every request verified and
 * under the id of a row, with that row's body and type; each row's id answered 2xx exactly
 * once, and never seen more often than the row was attempted; an id seen more than once only
 * as the same body. Returns the problems (empty when all is well).
 */
function deliveryProblems(rows: DeliveryRow[], got: Delivery[]): string[] {
  const problems: string[] = [];
  const byId = new Map<string, Delivery[]>();
  for (const delivery of got) byId.set(delivery.id, [...(byId.get(delivery.id) ?? []), delivery]);
  const ids = new Set(rows.map((row) => row.webhookId));
  for (const [id, copies] of byId) {
    if (!ids.has(id))
      problems.push(`${id || '(no webhook-id)'}: arrived ${copies.length} times, no row has it`);
  }
  for (const delivery of got) {
    if (!delivery.verified) problems.push(`${delivery.id}: the signature did not verify`);
  }
  for (const row of rows) {
    const label = `${row.label} ${row.webhookId} (${row.attempts} attempts)`;
    if (row.status !== 'sent') {
      problems.push(`${label}: ${row.status}, last ${row.lastStatus ?? ''} ${row.lastError ?? ''}`);
    }
    const copies = byId.get(row.webhookId) ?? [];
    const acknowledged = copies.filter((copy) => copy.answered !== null && copy.answered < 300);
    if (acknowledged.length !== 1) problems.push(`${label}: answered 2xx ${acknowledged.length} times`);
    if (copies.length > row.attempts) problems.push(`${label}: arrived ${copies.length} times`);
    for (const copy of copies) {
      if (copy.body !== row.body) problems.push(`${label}: a copy's body is not the row's`);
      if (copy.payload?.type !== row.type) problems.push(`${label}: a copy says type ${copy.payload?.type}`);
    }
  }
  return problems;
}

/** The ids the receiver answered 500 more than once: deliveries retried after a 500. */
function retriedAfter500(got: Delivery[]): string[] {
  const failures = got.filter((delivery) => delivery.answered === 500).map((delivery) => delivery.id);
  return [...new Set(failures.filter((id, at) => failures.indexOf(id) !== at))];
}

const countWhere = (rows: DeliveryRow[], test: (row: DeliveryRow) => boolean) => rows.filter(test).length;

describe('webhook delivery under faults (real servers, private PostgreSQL, a standardwebhooks receiver)', () => {
  it('receiver failing, then down, the server killed -9 with deliveries in flight: after restart every event arrives, verified, none lost', async () => {
    const databaseUrl = await freshDatabase('webhook_kill');
    const receiver = await reserveReceiver();
    const killed = await startServer(databaseUrl);
    const endpoint = await registerEndpoint(databaseUrl, receiver.url);
    receiver.setSecret(endpoint.secret);
    const rows = () => deliveryRows(databaseUrl, endpoint.id);

    // 1. The receiver answers 500: every delivery is tried and scheduled again; the first
    //    retries come (a backoff of 1 to 30 s) and get 500 again.
    await receiver.up('fail');
    const failing = await produceEvents(killed.base, 3, 'wh-failing', 'change password');
    await until(
      async () => {
        const mine = rowsOf(await rows(), failing);
        return (
          mine.length === failing.length &&
          mine.every((row) => row.lastStatus === 500) &&
          retriedAfter500(receiver.deliveries).length > 0
        );
      },
      'every delivery answered 500, one of them retried',
      90_000,
      250,
      async () => ({ rows: await rows(), output: killed.output().slice(-3000) }),
    );

    // 2. The receiver is down (connection refused); what is written now fails without an answer.
    await receiver.down();
    const refused = await produceEvents(killed.base, 3, 'wh-refused', 'revoke the session');
    await until(
      async () => {
        const mine = rowsOf(await rows(), refused);
        return mine.length === refused.length && mine.every((row) => REFUSED.test(row.lastError ?? ''));
      },
      'every new delivery refused by the receiver that is down',
      60_000,
      250,
      async () => ({ rows: await rows(), output: killed.output().slice(-3000) }),
    );

    // 3. The receiver takes requests and never answers: a run's claims stay in flight (until
    //    WEBHOOK_TIMEOUT); what is written meanwhile waits behind that run, never tried.
    await receiver.up('hang');
    await until(() => receiver.heldRequests >= 1, 'a delivery in flight to the hung receiver', 60_000, 20);
    const neverTried = await produceEvents(killed.base, 2, 'wh-never-tried', 'nothing');
    killed.kill('SIGKILL');
    expect((await killed.exited).signal).toBe('SIGKILL');

    // What the kill left behind: every event has its delivery, none answered 2xx, all pending;
    // some retried after 500s, some refused, some never tried, some claimed by the dead process.
    const atKill = await rows();
    expect(atKill.map((row) => row.label).sort()).toEqual([...failing, ...refused, ...neverTried].sort());
    expect(receiver.deliveries.filter((delivery) => delivery.answered === 200)).toHaveLength(0);
    expect(countWhere(atKill, (row) => row.status !== 'pending')).toBe(0);
    expect(retriedAfter500(receiver.deliveries).length).toBeGreaterThan(0);
    for (const id of retriedAfter500(receiver.deliveries)) {
      expect(atKill.find((row) => row.webhookId === id)!.attempts).toBeGreaterThanOrEqual(2);
    }
    expect(countWhere(atKill, (row) => REFUSED.test(row.lastError ?? ''))).toBeGreaterThan(0);
    expect(countWhere(rowsOf(atKill, neverTried), (row) => row.attempts === 0)).toBeGreaterThan(0);
    // The held requests were the dead process's: the system closed their connections.
    await until(() => receiver.heldRequests === 0, 'the killed sender’s connections to close', 15_000, 20);
    // Delivered to the receiver, never answered: the sender never knew.
    const inFlight = receiver.deliveries.filter((delivery) => delivery.answered === null).map((d) => d.id);
    expect(inFlight.length).toBeGreaterThan(0);
    for (const id of inFlight) {
      expect(atKill.find((row) => row.webhookId === id)).toMatchObject({ status: 'pending' });
    }

    // 4. The receiver comes back; time passes (see the header); the server again, as two
    //    instances delivering from the one outbox.
    await receiver.down();
    await receiver.up('accept');
    expect(await timePasses(databaseUrl, endpoint.id)).toBe(atKill.length);
    const restarted = await Promise.all([startServer(databaseUrl), startServer(databaseUrl)]);
    await until(
      async () => (await rows()).every((row) => row.status !== 'pending'),
      'no pending delivery',
      120_000,
      250,
      async () => ({ rows: await rows(), output: restarted.map((server) => server.output().slice(-3000)) }),
    );
    // Stopped (SIGTERM: a send in flight finishes first), no sender is left to add a request.
    for (const server of restarted) expect((await server.stop()).code).toBe(0);

    const final = await rows();
    expect(final.map((row) => row.label).sort()).toEqual(atKill.map((row) => row.label).sort());
    expect(deliveryProblems(final, receiver.deliveries)).toEqual([]);
    // The repeats: the requests held when the sender died (same id, same body, checked above), no other.
    const seen = new Map<string, number>();
    for (const delivery of receiver.deliveries) {
      if (delivery.answered !== 500) seen.set(delivery.id, (seen.get(delivery.id) ?? 0) + 1);
    }
    expect(
      [...seen]
        .filter(([, times]) => times > 1)
        .map(([id]) => id)
        .sort(),
    ).toEqual([...inFlight].sort());
  }, 360_000);
});
