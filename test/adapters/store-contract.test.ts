import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, rowsOf } from '../../src/adapters/db/database.js';
import { createDrizzleRateLimiter } from '../../src/adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../../src/adapters/db/drizzle-store.js';
import { onPostgres, openTestDatabase, type TestDatabase } from '../support/database.js';
import { credentialsContract } from './store-contract/credentials.js';
import {
  type ContractSubjects,
  createUser,
  later,
  openSession,
  REFRESH_TTL_MS,
  rotate,
  testMoment,
} from './store-contract/fixtures.js';
import { maintenanceContract } from './store-contract/maintenance.js';
import { rateLimiterContract } from './store-contract/rate-limiter.js';
import { sessionsContract } from './store-contract/sessions.js';
import { singleUseContract } from './store-contract/single-use.js';

/**
 * The store contract (Lucia's adapter tests): what every database driver must pass, with
 * real concurrency. On PGlite (`npm test`) the N calls of a race interleave at every
 * statement on one connection; on PostgreSQL (TEST_DATABASE_URL, CI) they run at once on
 * the pool's 20 connections. The suite knows the store by its method names only, so when
 * the Store is split into ports only this file's `subjects` changes.
 *
 * The database comes from test/support/database.ts directly (not the harness): the store's
 * contract does not need the HTTP app to build.
 */
let database: TestDatabase | undefined;
let subjects: ContractSubjects | undefined;

beforeAll(async () => {
  database = await openTestDatabase();
  subjects = {
    store: createDrizzleStore(database.db),
    rateLimiter: createDrizzleRateLimiter(database.db),
    // The PostgreSQL pool has 20 connections (test/support/database.ts).
    parallel: 20,
  };
});

afterAll(async () => {
  await database?.close();
});

const open = () => {
  if (!subjects) throw new Error('the database opens in beforeAll');
  return subjects;
};

describe(`store contract on ${onPostgres ? 'PostgreSQL' : 'PGlite'}`, () => {
  sessionsContract(open);
  singleUseContract(open);
  credentialsContract(open);
  rateLimiterContract(open);
  maintenanceContract(open);
});

/**
 * Found by this suite: a step-up that met a rotation of the same session in flight missed
 * the live session. Under READ COMMITTED, `reauthenticateSession`'s UPDATE waited for the
 * head the rotation held, found it rotated on re-check, and could not see the successor
 * inserted after its snapshot: 401 invalid_token for a live session, its TOTP step spent.
 * Fixed by claiming again (a new statement sees the successor); `activateTotpFactor` raises
 * the session the same way. This reproduction holds the rotation's transaction open until
 * the step-up waits on its lock. PostgreSQL only: PGlite runs one statement at a time.
 */
describe.runIf(onPostgres)('a step-up racing a refresh (PostgreSQL)', () => {
  it('a step-up waiting on a refresh of its session still raises the live session', async () => {
    const { store } = open();
    const db = database!.db;
    const now = testMoment();
    const user = await createUser(store, now);
    const session = await openSession(store, user, now);

    let stepUp: ReturnType<typeof store.reauthenticateSession> | undefined;
    await db.transaction(async (tx) => {
      const refreshed = await rotate(createDrizzleStore(tx as unknown as Database), session.tokenHash, now);
      expect(refreshed.grant).toBeDefined();
      stepUp = store.reauthenticateSession({
        sessionId: session.sessionId,
        userId: user.id,
        tokenHash: `contract-${crypto.randomUUID()}`,
        assurance: { acr: 'aal2', amr: ['pwd', 'otp'], authTime: now },
        now,
        notAfter: later(now, REFRESH_TTL_MS),
      });
      // Commit only once the step-up's UPDATE waits for the row this rotation holds.
      for (let poll = 0; ; poll++) {
        const waiting = await db.execute(sql`SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if (rowsOf(waiting).length > 0) break;
        if (poll > 500) throw new Error('the step-up never waited on the rotation');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });

    // The session was live all along (its head is the rotation's successor).
    expect(await store.isSessionLive(session.sessionId, user.id, now)).toBe(true);
    expect(await stepUp).toMatchObject({ sessionId: session.sessionId, acr: 'aal2' });
  });
});
