import { readMigrationFiles } from 'drizzle-orm/migrator';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Database } from './database.js';
import type { OpenedDatabase } from './pglite.js';
import { guardAnswers } from './postgres-answers.js';
import { schema } from './schema.js';

/** Any fixed number shared by every instance; it guards the migrations table. */
const MIGRATION_LOCK = 0x4c4b_0000;

/**
 * A pool on PostgreSQL. `connectTimeoutSeconds` bounds how long a request waits for a
 * connection to a database that does not answer (postgres.js waits 30 s by default): past it
 * the request fails with 503 rather than hanging.
 *
 * `prepare: false` (DATABASE_PREPARE=false) is for a pooler that hands each transaction to any
 * server connection and does not carry named statements across them (PgBouncer in transaction
 * mode before 1.21, or with max_prepared_statements=0): then nothing is prepared by name.
 */
export function openPostgres(
  url: string,
  options: { max: number; connectTimeoutSeconds?: number; prepare?: boolean },
): OpenedDatabase {
  const prepare = options.prepare ?? true;
  const client = postgres(url, {
    max: options.max,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    // postgres.js waits out a growing backoff (up to 20 s, shared by the pool) before it even
    // tries to reconnect after an error, and the connect timeout does not bound that wait:
    // requests hung during an outage (test/faults). Try at once; a refused connect fails fast.
    backoff: () => 0,
    onnotice: () => {},
    // The client's own option, not only drizzle's: postgres.js names every tagged-template
    // statement by it, among them the `commit`, `rollback` and `savepoint` of its transactions
    // and its type lookup at connect. Behind a transaction pooler such a name is unknown on the
    // next server connection; postgres.js then prepares the statement again and retries, and a
    // retried `commit` in the transaction that failed answers ROLLBACK: a write that did not
    // happen came back as a success (issue 15 §7).
    prepare,
  });
  guardAnswers(client);
  const db = drizzle(scoped(client, prepare), { schema }) as unknown as Database;
  return { db, close: () => client.end({ timeout: 5 }) };
}

type Unsafe = (query: string, params?: unknown[], options?: Record<string, unknown>) => unknown;
type Scoped = {
  unsafe: Unsafe;
  begin?: (...args: unknown[]) => unknown;
  savepoint?: (...args: unknown[]) => unknown;
};

/**
 * Gives every statement drizzle sends our `prepare`, in transactions and savepoints too.
 * Prepared, a statement is named (postgres.js caches it per connection by its text): drizzle
 * sends raw SQL through `unsafe` with `prepare: false`, which costs a Parse/Describe round trip
 * and a fresh plan on every call (`npm run bench` measures both side by side: BENCHMARKS.md,
 * "bare SQL … unprepared"). Our statements have fixed texts, so the
 * per-connection cache stays small. Unprepared, the client's `prepare: false` already keeps
 * every statement unnamed; saying it here too keeps drizzle's `.prepare(name)` from asking.
 */
function scoped<T>(sql: T, prepare: boolean): T {
  const target = sql as unknown as Scoped;
  const unsafe = target.unsafe;
  target.unsafe = (query, params, options) => unsafe(query, params ?? [], { ...options, prepare });
  for (const method of ['begin', 'savepoint'] as const) {
    const original = target[method];
    if (!original) continue;
    target[method] = (...args: unknown[]) => {
      const callback = args.pop() as (inner: unknown) => unknown;
      return original(...args, (inner: unknown) => callback(scoped(inner, prepare)));
    };
  }
  return sql;
}

/**
 * Applies the migrations in `drizzle/` (drizzle's journal and migrations table, so a database
 * migrated by drizzle-kit or an earlier version reads the same). Many instances may start at
 * once against one database, so the whole run is one transaction that first takes a
 * transaction-level advisory lock: a session-level lock (pg_advisory_lock … unlock) breaks
 * behind a transaction pooler, where the unlock may reach another server connection and the
 * lock stays held by an idle one, and the next instance waits forever. drizzle's own migrator
 * reads the last applied migration before its transaction, outside any lock we could take, so
 * two instances could both apply the same migration; here the read follows the lock.
 */
export async function migratePostgres(url: string, migrationsFolder: string): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder });
  // Unnamed statements: this may run through a transaction pooler whatever DATABASE_PREPARE says.
  const client = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  guardAnswers(client);
  try {
    await client.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
      await tx.unsafe('CREATE SCHEMA IF NOT EXISTS "drizzle"');
      await tx.unsafe(
        'CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)',
      );
      const [last] = await tx<{ created_at: string }[]>`
        SELECT created_at FROM "drizzle"."__drizzle_migrations" ORDER BY created_at DESC LIMIT 1`;
      for (const migration of migrations) {
        if (last && Number(last.created_at) >= migration.folderMillis) continue;
        for (const statement of migration.sql) await tx.unsafe(statement);
        await tx`
          INSERT INTO "drizzle"."__drizzle_migrations" (hash, created_at)
          VALUES (${migration.hash}, ${migration.folderMillis})`;
      }
    });
  } finally {
    await client.end({ timeout: 5 });
  }
}
