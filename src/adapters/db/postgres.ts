import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Database } from './database.js';
import type { OpenedDatabase } from './pglite.js';
import { schema } from './schema.js';

/** Any fixed number shared by every instance; it guards the migrations table. */
const MIGRATION_LOCK = 0x4c4b_0000;

/**
 * A pool on PostgreSQL. `connectTimeoutSeconds` bounds how long a request waits for a
 * connection to a database that does not answer (postgres.js waits 30 s by default): past it
 * the request fails with 503 rather than hanging.
 */
export function openPostgres(
  url: string,
  options: { max?: number; connectTimeoutSeconds?: number; prepare?: boolean } = {},
): OpenedDatabase {
  const client = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    // postgres.js waits out a growing backoff (up to 20 s, shared by the pool) before it even
    // tries to reconnect after an error, and the connect timeout does not bound that wait:
    // requests hung during an outage (test/faults). Try at once; a refused connect fails fast.
    backoff: () => 0,
    onnotice: () => {},
  });
  const db = drizzle((options.prepare ?? true) ? prepared(client) : client, {
    schema,
  }) as unknown as Database;
  return { db, close: () => client.end({ timeout: 5 }) };
}

type Unsafe = (query: string, params?: unknown[], options?: Record<string, unknown>) => unknown;
type Scoped = {
  unsafe: Unsafe;
  begin?: (...args: unknown[]) => unknown;
  savepoint?: (...args: unknown[]) => unknown;
};

/**
 * Makes every statement drizzle sends a named prepared statement (postgres.js caches it per
 * connection by its text). drizzle sends raw SQL through `unsafe` with `prepare: false`,
 * which costs a Parse/Describe round trip and a fresh plan on every call: `npm run bench`
 * measured the rotation statement unprepared at 808/s against 2 732/s prepared at 32
 * clients. Transactions and savepoints get the same. Our statements have fixed texts, so the
 * per-connection cache stays small. DATABASE_PREPARE=false turns it off (PgBouncer in
 * transaction mode before 1.21 cannot keep prepared statements).
 */
function prepared<T>(sql: T): T {
  const scoped = sql as unknown as Scoped;
  const unsafe = scoped.unsafe;
  scoped.unsafe = (query, params, options) => unsafe(query, params ?? [], { ...options, prepare: true });
  for (const method of ['begin', 'savepoint'] as const) {
    const original = scoped[method];
    if (!original) continue;
    scoped[method] = (...args: unknown[]) => {
      const callback = args.pop() as (inner: unknown) => unknown;
      return original(...args, (inner: unknown) => callback(prepared(inner)));
    };
  }
  return sql;
}

/**
 * Applies the migrations in `drizzle/`. Many instances may start at once against one
 * database, so the whole run holds a session advisory lock on its own connection.
 */
export async function migratePostgres(url: string, migrationsFolder: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    try {
      await migrate(drizzle(client), { migrationsFolder });
    } finally {
      await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
