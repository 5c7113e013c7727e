import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgCluster } from './cluster.js';
import { makeSessions, PASSWORD, type SessionClient, send, show } from './harness.js';
import { type Arrival, FaultSmtp } from './mail-smtp.js';
import { ServerProcess } from './server.js';

/**
 * The outbox under faults (issue #17, "Done means"): the real Node server as child processes on
 * a private PostgreSQL cluster, a real SMTP server (mail-smtp.ts) that goes down, hangs and
 * comes back, and `kill -9` of the server that holds the messages. Only environment variables
 * go into the server.
 *
 * What is claimed, precisely:
 * 1. Messages pending when the server is killed with the SMTP server down, whether never
 *    tried, tried and waiting for their retry, or claimed with a send in flight, are all
 *    delivered once the SMTP server is back and the server runs again (two instances at
 *    once), each exactly once: the SMTP server never took any of them before the kill, and
 *    claims (FOR UPDATE SKIP LOCKED, a lease) never give one message to two senders.
 * 2. Delivery is at least once, not exactly once: when the SMTP server took a message but
 *    the sender died before it read the 250 (so before the outbox row said `sent`), the
 *    message is sent again after the claim's lease. The repeat is the same message under the
 *    same idempotency key (Message-ID and X-Idempotency-Key), so a receiver that deduplicates
 *    on either loses nothing and shows nothing twice. Such messages arrive exactly twice;
 *    every other message exactly once.
 */

let cluster: PgCluster | undefined;
const servers: ServerProcess[] = [];
const smtpServers: FaultSmtp[] = [];

beforeAll(async () => {
  cluster = await PgCluster.create();
  await cluster.start();
});

afterAll(async () => {
  try {
    for (const server of servers) {
      if (server.running) {
        server.kill('SIGKILL');
        await server.exited;
      }
    }
    for (const smtp of smtpServers) await smtp.down();
  } finally {
    await cluster?.destroy();
  }
});

/** A claim lasts this long (MAIL_LEASE); a send times out after half of it (config/mail.ts). */
const LEASE_SECONDS = 20;
const NEW_PASSWORD = 'a brand new passphrase 2031';
/** MAIL_FROM is the default `Latchkey <no-reply@host of ISSUER>`: the Message-ID's domain. */
const MESSAGE_ID_DOMAIN = '127.0.0.1';

/** The mail settings of every server here; the rest are server.ts's test settings. */
function mailEnv(smtpUrl: string, dispatchIntervalSeconds: number): Record<string, string> {
  return {
    SMTP_URL: smtpUrl,
    MAIL_DISPATCH_INTERVAL: String(dispatchIntervalSeconds),
    MAIL_LEASE: String(LEASE_SECONDS),
    // Small batches: a run claims 4 and sends them at once; the rest wait for the next run.
    MAIL_BATCH_SIZE: '4',
    // Nothing is given up for good during the test: every message must arrive.
    MAIL_MAX_ATTEMPTS: '100',
    PASSWORD_RESETS_PER_ADDRESS: '1000',
    PASSWORD_RESETS_PER_IP: '100000',
  };
}

async function startServer(databaseUrl: string, env: Record<string, string>): Promise<ServerProcess> {
  const server = await ServerProcess.start({ databaseUrl, env });
  servers.push(server);
  return server;
}

async function reserveSmtp(): Promise<FaultSmtp> {
  const smtp = await FaultSmtp.reserve();
  smtpServers.push(smtp);
  return smtp;
}

/** A database of its own for each test, so that its outbox holds its messages only. */
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

/** For each new user: a password reset mail (forgot) and a "password changed" notice (a change). */
async function produceMail(base: string, users: number, label: string): Promise<SessionClient[]> {
  const clients = await makeSessions(base, users, 1, label);
  for (const client of clients) {
    const forgot = await send(base, '/v1/auth/password/forgot', { body: { email: client.email } });
    if (forgot.kind !== 'response' || forgot.status !== 202) throw new Error(`forgot: ${show(forgot)}`);
    const change = await send(base, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      token: client.access,
    });
    if (change.kind !== 'response' || change.status !== 204) {
      throw new Error(`password change: ${show(change)}`);
    }
  }
  return clients;
}

interface OutboxRow {
  kind: string;
  key: string;
  status: string;
  attempts: number;
  lastError: string | null;
  /** The sealed body is gone (it is erased once sent). */
  erased: boolean;
  /** The address of the user the message is about. */
  email: string | null;
}

async function outboxRows(databaseUrl: string): Promise<OutboxRow[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const rows = await sql<
      {
        kind: string;
        key: string;
        status: string;
        attempts: number;
        last_error: string | null;
        erased: boolean;
        email: string | null;
      }[]
    >`
      SELECT o.kind, o.idempotency_key AS key, o.status, o.attempts, o.last_error,
             (o.payload IS NULL) AS erased, u.email
        FROM outbox o LEFT JOIN users u ON u.id = o.user_id
       ORDER BY o.created_at, o.id`;
    return rows.map((row) => ({
      kind: row.kind,
      key: row.key,
      status: row.status,
      attempts: Number(row.attempts),
      lastError: row.last_error,
      erased: row.erased,
      email: row.email,
    }));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Polls `ready` every `pollMs` until it is true; fails after `timeoutMs` (a bound, not a timing claim). */
async function until(
  ready: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs: number,
  pollMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Each user of `clients` has its reset mail and its notice in the outbox (other kinds may be there too). */
function missingMessages(rows: OutboxRow[], clients: SessionClient[]): string[] {
  return clients.flatMap((client) =>
    ['password_reset', 'password_changed']
      .filter((kind) => !rows.some((row) => row.kind === kind && row.email === client.email))
      .map((kind) => `${client.email}: no ${kind} message in the outbox`),
  );
}

/** The subject each kind produced here has (src/services/mail-templates). */
const SUBJECTS: Record<string, RegExp> = {
  password_reset: /^Reset your password$/,
  password_changed: /^Your password was changed$/,
};

/**
 * The outbox against what arrived: every row `sent` with its body erased; every arrival under
 * the key of a row; each key arriving once, or exactly twice when it is in `repeated`, the
 * two copies the same message; each to the row's user, with the row's subject and the key as
 * its Message-ID. Returns the problems (empty when all is well).
 */
function deliveryProblems(rows: OutboxRow[], arrivals: Arrival[], repeated: Set<string>): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, Arrival[]>();
  for (const arrival of arrivals) {
    if (!arrival.key) {
      problems.push(`a message without X-Idempotency-Key arrived: ${arrival.subject} to ${arrival.to}`);
      continue;
    }
    byKey.set(arrival.key, [...(byKey.get(arrival.key) ?? []), arrival]);
  }
  const keys = new Set(rows.map((row) => row.key));
  for (const key of byKey.keys()) {
    if (!keys.has(key)) problems.push(`${key}: arrived, but no outbox row has this key`);
  }
  for (const row of rows) {
    const label = `${row.kind} ${row.key} (${row.email}, ${row.attempts} attempts)`;
    if (row.status !== 'sent') problems.push(`${label}: ${row.status}, last error ${row.lastError}`);
    if (!row.erased) problems.push(`${label}: its body was not erased`);
    const copies = byKey.get(row.key) ?? [];
    const expected = repeated.has(row.key) ? 2 : 1;
    if (copies.length !== expected) {
      problems.push(`${label}: arrived ${copies.length} times (expected ${expected})`);
    }
    for (const copy of copies) {
      if (copy.messageId !== `<${row.key}@${MESSAGE_ID_DOMAIN}>`) {
        problems.push(`${label}: Message-ID ${copy.messageId} does not carry the key`);
      }
      if (row.email === null || !copy.to.includes(row.email)) {
        problems.push(`${label}: went to ${copy.to}, not to the user's address`);
      }
      const subject = SUBJECTS[row.kind];
      if (subject && !subject.test(copy.subject)) problems.push(`${label}: subject "${copy.subject}"`);
    }
    const [first, ...others] = copies;
    for (const other of others) {
      if (other.subject !== first!.subject || other.text !== first!.text || other.to !== first!.to) {
        problems.push(`${label}: the repeat is not the same message`);
      }
    }
  }
  return problems;
}

const countWhere = (rows: OutboxRow[], test: (row: OutboxRow) => boolean) => rows.filter(test).length;

describe('the mail outbox under faults (real server, private PostgreSQL, real SMTP server)', () => {
  it('kill -9 with messages pending, failed and in flight while SMTP is down: after restart every message arrives, exactly once', async () => {
    const databaseUrl = await freshDatabase('mail_kill');
    const smtp = await reserveSmtp();
    const env = mailEnv(smtp.url, 1);
    const killed = await startServer(databaseUrl, env);

    // SMTP down (connection refused): every message fails once and waits for its retry
    // (a backoff of 1 to 30 s, src/services/outbox-dispatcher.ts).
    const refused = await produceMail(killed.base, 3, 'refused');
    await until(
      async () => {
        const rows = await outboxRows(databaseUrl);
        return rows.length > 0 && rows.every((row) => row.attempts >= 1 && row.lastError !== null);
      },
      'every message to fail once against the SMTP server that is down',
      30_000,
    );

    // SMTP hung (connections accepted, never greeted): a run's claims go in flight and stay
    // there (until the sender's greeting timeout, half the lease); what is written meanwhile
    // waits behind that run, never tried.
    await smtp.up({ kind: 'hang' });
    const hung = await produceMail(killed.base, 3, 'hung');
    await until(() => smtp.heldConnections >= 1, 'a send in flight to the hung SMTP server', 30_000, 20);
    const inFlightAtKill = smtp.heldConnections;
    killed.kill('SIGKILL');
    expect((await killed.exited).signal).toBe('SIGKILL');

    // What the kill left behind: nothing delivered, everything pending, some of it never tried,
    // some of it failed with a retry scheduled, some of it claimed by the dead process.
    const atKill = await outboxRows(databaseUrl);
    expect(missingMessages(atKill, [...refused, ...hung])).toEqual([]);
    expect(smtp.arrivals).toHaveLength(0);
    expect(countWhere(atKill, (row) => row.status !== 'pending')).toBe(0);
    expect(countWhere(atKill, (row) => row.attempts === 0)).toBeGreaterThan(0);
    expect(countWhere(atKill, (row) => row.lastError !== null)).toBeGreaterThan(0);
    expect(inFlightAtKill).toBeGreaterThan(0);
    // The held connections were the dead process's: the system closed them.
    await until(() => smtp.heldConnections === 0, 'the killed sender’s connections to close', 15_000, 20);

    // SMTP back up; the server again, as two instances claiming from the one outbox.
    await smtp.down();
    await smtp.up({ kind: 'accept' });
    const restarted = await Promise.all([startServer(databaseUrl, env), startServer(databaseUrl, env)]);
    // Bound: the dead claims expire with their lease, retries wait up to 30 s (60 s for a
    // second one); generous, since a slow machine must not fail this.
    await until(
      async () => (await outboxRows(databaseUrl)).every((row) => row.status !== 'pending'),
      'the outbox to have no pending message',
      180_000,
      250,
    );
    // Stopped (SIGTERM: a send in flight finishes first), no sender is left to add an arrival.
    for (const server of restarted) expect((await server.stop()).code).toBe(0);

    const rows = await outboxRows(databaseUrl);
    expect(deliveryProblems(rows, smtp.arrivals, new Set())).toEqual([]);
    expect(smtp.arrivals).toHaveLength(rows.length);
  }, 360_000);

  it('the SMTP server took a message but the sender died before it read the 250: the repeat carries the same key, nothing else repeats', async () => {
    const databaseUrl = await freshDatabase('mail_lost_reply');
    const smtp = await reserveSmtp();

    // Messages written by a server with no dispatcher (MAIL_DISPATCH_INTERVAL=0), killed with
    // them pending and the SMTP server down.
    const producer = await startServer(databaseUrl, mailEnv(smtp.url, 0));
    const clients = await produceMail(producer.base, 4, 'lost-reply');
    producer.kill('SIGKILL');
    await producer.exited;
    const written = await outboxRows(databaseUrl);
    expect(missingMessages(written, clients)).toEqual([]);
    expect(countWhere(written, (row) => row.status !== 'pending' || row.attempts !== 0)).toBe(0);

    // The SMTP server comes up taking messages, but the first one that arrives in full kills
    // its sender before the 250 is written (every one that arrives until then is held the same
    // way): the reply to the final dot is lost, the outbox row still says pending.
    let senderStarted: Promise<ServerProcess> | undefined;
    let killing: Promise<unknown> | undefined;
    const crash = () =>
      (killing ??= senderStarted!.then(async (sender) => {
        sender.kill('SIGKILL');
        await sender.exited;
      }));
    await smtp.up({ kind: 'accept-then-crash', crash });
    senderStarted = startServer(databaseUrl, mailEnv(smtp.url, 1));
    const sender = await senderStarted;
    await until(() => !sender.running, 'the sender to be killed on its first delivered message', 60_000, 20);
    expect((await sender.exited).signal).toBe('SIGKILL');
    await killing;
    smtp.setMode({ kind: 'accept' });

    const taken = smtp.arrivals.filter((arrival) => arrival.unacknowledged);
    expect(taken.length).toBeGreaterThan(0);
    const lostReplies = new Set(taken.map((arrival) => arrival.key!));
    const beforeRestart = await outboxRows(databaseUrl);
    // The row of each message the SMTP server took is still pending: the sender never knew.
    for (const key of lostReplies) {
      expect(beforeRestart.find((row) => row.key === key)).toMatchObject({ status: 'pending', attempts: 1 });
    }

    // The server again, two instances; every claim of the dead sender expires with its lease.
    const restarted = await Promise.all([
      startServer(databaseUrl, mailEnv(smtp.url, 1)),
      startServer(databaseUrl, mailEnv(smtp.url, 1)),
    ]);
    await until(
      async () => (await outboxRows(databaseUrl)).every((row) => row.status !== 'pending'),
      'the outbox to have no pending message',
      120_000,
      250,
    );
    for (const server of restarted) expect((await server.stop()).code).toBe(0);

    const rows = await outboxRows(databaseUrl);
    expect(deliveryProblems(rows, smtp.arrivals, lostReplies)).toEqual([]);
    expect(smtp.arrivals).toHaveLength(rows.length + lostReplies.size);
    // Sent again from the same row (a second claim), not from a second message.
    for (const key of lostReplies) {
      expect(rows.find((row) => row.key === key)!.attempts).toBe(2);
    }
  }, 240_000);
});
