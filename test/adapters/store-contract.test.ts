import { afterAll, beforeAll, describe } from 'vitest';
import { createDrizzleRateLimiter } from '../../src/adapters/db/drizzle-rate-limiter.js';
import { createDrizzleStore } from '../../src/adapters/db/drizzle-store.js';
import { onPostgres, openTestDatabase, type TestDatabase } from '../support/database.js';
import { credentialsContract } from './store-contract/credentials.js';
import type { ContractSubjects } from './store-contract/fixtures.js';
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
});
