import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Database } from '../src/adapters/db/database.js';
import { openPostgres } from '../src/adapters/db/postgres.js';
import { onPostgres } from './support/database.js';
import { useDatabase } from './support/harness.js';

/**
 * On PostgreSQL every statement drizzle sends is a named prepared statement (one round trip
 * and a cached plan on later calls), in and out of transactions; DATABASE_PREPARE=false sends
 * every statement unnamed, postgres.js's own included. Read from pg_prepared_statements on a
 * pool of one connection, directly on the file's database (a pooler in between would show
 * another server connection's list).
 */
describe.skipIf(!onPostgres)('prepared statements on PostgreSQL', () => {
  const database = useDatabase();
  const url = () => database.current.directUrl!;
  const count = (db: Database, filter = sql`WHERE statement LIKE '%latchkey_probe%'`) =>
    db
      .execute(sql`SELECT count(*)::int AS n FROM pg_prepared_statements ${filter}`)
      .then((rows) => (rows as unknown as { n: number }[])[0]!.n);

  it('names the statements of a pool, of a transaction and of a savepoint', async () => {
    const opened = openPostgres(url(), { max: 1 });
    try {
      await opened.db.execute(sql`SELECT ${1}::int AS latchkey_probe_a`);
      await opened.db.transaction(async (tx) => {
        await tx.execute(sql`SELECT ${2}::int AS latchkey_probe_b`);
        await tx.transaction(async (inner) => {
          await inner.execute(sql`SELECT ${3}::int AS latchkey_probe_c`);
        });
      });
      // The three probes (the count has no parameter: postgres.js sends it as a simple query).
      expect(await count(opened.db)).toBe(3);
    } finally {
      await opened.close();
    }
  });

  it('prepares nothing by name with prepare: false: no statement, no commit, no savepoint', async () => {
    const opened = openPostgres(url(), { max: 1, prepare: false });
    try {
      await opened.db.execute(sql`SELECT ${1}::int AS latchkey_probe_a`);
      // postgres.js writes `begin`, `savepoint`, `rollback to`, `commit` and `rollback`
      // itself: with its own `prepare` left on, those were named (the bug of issue 15 §7).
      for (let round = 0; round < 2; round++) {
        await opened.db.transaction(async (tx) => {
          await tx.execute(sql`SELECT ${2}::int AS latchkey_probe_b`);
          await tx.transaction(async (inner) => {
            await inner.execute(sql`SELECT ${3}::int AS latchkey_probe_c`);
          });
          await tx
            .transaction(async () => {
              throw new Error('roll the savepoint back');
            })
            .catch(() => {});
        });
        await opened.db
          .transaction(async (tx) => {
            await tx.execute(sql`SELECT ${4}::int AS latchkey_probe_d`);
            throw new Error('roll the transaction back');
          })
          .catch(() => {});
      }
      await opened.db.select({ n: sql<number>`${5}::int` }).from(sql`(SELECT 1) AS latchkey_probe_e`);
      expect(await count(opened.db, sql``)).toBe(0);
    } finally {
      await opened.close();
    }
  });
});
