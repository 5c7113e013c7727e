import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../src/lib/errors.js';
import { PgCluster } from './cluster.js';
import { audit, makeSessions, send, show, tokenHash } from './harness.js';
import { ServerProcess } from './server.js';

/**
 * What a pooled connection carries across an outage (see src/adapters/db/retry-stale.ts):
 * postgres.js keeps the last error a connection received and the statement it had in flight
 * when its socket closed, and replays the error onto the first statement after it reconnects.
 * These tests set up each case deterministically on a private cluster; the outage of
 * refresh-faults.fault.ts hits them by chance.
 */

let cluster: PgCluster | undefined;
const clients: postgres.Sql[] = [];

/** A postgres.js client of the test itself (not the server's), ended in afterAll. */
function client(options: postgres.Options<Record<string, never>> = {}): postgres.Sql {
  const sql = postgres(cluster!.url, { max: 1, onnotice: () => {}, connect_timeout: 10, ...options });
  clients.push(sql);
  return sql;
}

beforeAll(async () => {
  cluster = await PgCluster.create();
  await cluster.start();
});

/** Ends every client of the test: a smart shutdown waits for their sessions. */
async function endClients(): Promise<void> {
  for (const sql of clients.splice(0)) await sql.end({ timeout: 1 }).catch(() => {});
}

afterAll(async () => {
  await endClients();
  await cluster?.destroy();
});

/** Polls `ready` every 20 ms until it is true; fails after `timeoutMs`. */
async function until(ready: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The pid of a client backend of `application` waiting for a lock, if there is one. */
async function lockWaiter(admin: postgres.Sql, application: string): Promise<number | undefined> {
  const rows = await admin<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND wait_event_type = 'Lock' AND application_name = ${application}`;
  return rows[0]?.pid;
}

describe('a pooled connection across an outage (postgres.js 3.4.9, private PostgreSQL)', () => {
  it('a statement whose backend is ended fails with CONNECTION_CLOSED or ECONNRESET, never with the FATAL; the next one gets the FATAL unsent', async () => {
    const sql = client({ backoff: () => 0 });
    const admin = client();
    const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    const pid = row!.pid;
    const sleeping = sql`SELECT pg_sleep(60)`.then(
      () => 'finished',
      (error: unknown) => errorCodeOf(error),
    );
    await until(
      async () =>
        (await admin`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid} AND wait_event = 'PgSleep'`).length ===
        1,
      'the statement to run',
    );
    await admin`SELECT pg_terminate_backend(${pid})`;
    // retry-stale.ts relies on this: the FATAL that interrupts a statement never settles it
    // (its outcome is unknown: it may have committed), so a 57P01 never means "ran".
    expect(await sleeping).toMatch(/^(CONNECTION_CLOSED|ECONNRESET)$/);

    // The cause of the 503s after recovery: the FATAL, kept, is handed to the next statement
    // without sending it (PostgreSQL is up all along): the INSERT fails and nothing is
    // inserted. Should this fail after an upgrade, postgres.js no longer replays the error
    // and retry-stale.ts can be reconsidered.
    await admin`CREATE TABLE IF NOT EXISTS replay_marker (id text)`;
    const marker = `replay-${process.pid}-${Date.now()}`;
    const next = await sql`INSERT INTO replay_marker VALUES (${marker})`.then(
      () => 'ran',
      (error: unknown) => errorCodeOf(error),
    );
    expect(next).toBe('57P01');
    expect(await admin`SELECT 1 FROM replay_marker WHERE id = ${marker}`).toHaveLength(0);
    // And the statement after it runs: the replay happens once.
    expect((await sql`SELECT 1 AS one`)[0]).toEqual({ one: 1 });
  });

  it('a reconnect while PostgreSQL shuts down leaves nothing behind: the first request once it is back succeeds', async () => {
    const up = cluster!;
    // One pooled connection, so the connection this test breaks is the one the next request gets.
    const application = `latchkey-reconnect-${process.pid}`;
    const server = await ServerProcess.start({
      databaseUrl: `${up.url}?application_name=${application}`,
      env: { DATABASE_POOL_MAX: '1' },
    });
    try {
      const [session] = await makeSessions(server.base, 1, 1, 'reconnect');
      if (!session) throw new Error('no session');
      const admin = client();
      const locker = client();

      // 1. A refresh in flight on the server's only connection: its UPDATE waits for a row
      //    lock this test holds.
      const lock = await locker.reserve();
      await lock`BEGIN`;
      await lock`SELECT 1 FROM refresh_tokens WHERE token_hash = ${tokenHash(session.token)} FOR UPDATE`;
      const inFlight = send(server.base, '/v1/auth/refresh', { body: { refresh_token: session.token } });
      let serverPid: number | undefined;
      await until(async () => {
        serverPid = await lockWaiter(admin, application);
        return serverPid !== undefined;
      }, 'the refresh to wait for the lock');

      // 2. PostgreSQL starts shutting down (smart: new connections are refused with 57P03,
      //    the sessions go on), and the server's backend is ended with the refresh in flight.
      await up.stop({ mode: 'smart', wait: false });
      await up.waitForLog(/received smart shutdown request/);
      await admin`SELECT pg_terminate_backend(${serverPid!})`;
      const interrupted = await inFlight;
      expect(show(interrupted), 'the refresh whose backend was ended').toMatch(
        /^503 .*temporarily_unavailable/,
      );

      // 3. A request now reconnects, and PostgreSQL answers "the database system is shutting down".
      const duringShutdown = send(server.base, '/v1/auth/refresh', {
        body: { refresh_token: session.token },
      });
      await up.waitForLog(/FATAL: {2}the database system is shutting down/);

      // 4. The last sessions end, PostgreSQL is down: that request gets 503 (not a hang, not a 500).
      await lock`ROLLBACK`;
      lock.release();
      await endClients();
      await up.waitUntilStopped();
      expect(show(await duringShutdown), 'the request sent while PostgreSQL shut down').toMatch(
        /^503 .*temporarily_unavailable/,
      );

      // 5. PostgreSQL is back (pg_ctl start -w: it accepts connections). The very first request
      //    must succeed: before retry-stale.ts retried 57P03, it got the 57P03 kept from step 3.
      await up.start();
      const first = await send(server.base, '/v1/auth/refresh', { body: { refresh_token: session.token } });
      expect(show(first), 'the first request once PostgreSQL is back').toMatch(/^200 /);
      if (first.kind !== 'response') throw new Error('unreachable');
      session.lastSent = session.token;
      session.token = first.json.refresh_token;
      session.access = first.json.access_token;
      expect(show(await send(server.base, '/v1/users/me', { token: session.access }))).toMatch(/^200 /);
      expect(server.running).toBe(true);
      // The interrupted refreshes committed nothing: the session's one live token is the client's.
      expect(await audit(up.url, [session])).toEqual([]);
    } finally {
      server.kill('SIGKILL');
      await server.exited;
    }
  });
});
