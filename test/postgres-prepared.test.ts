import { sql } from 'drizzle-orm';
import { describe, expect, inject, it } from 'vitest';
import { openPostgres } from '../src/adapters/db/postgres.js';
import { onPostgres } from './support/database.js';

/**
 * On PostgreSQL every statement drizzle sends is a named prepared statement (one round trip
 * and a cached plan on later calls), in and out of transactions; DATABASE_PREPARE=false sends
 * them unnamed. Read from pg_prepared_statements on the pool's one connection.
 */
describe.skipIf(!onPostgres)('prepared statements on PostgreSQL', () => {
  const url = () => inject('postgresTemplate')!;
  const count = sql`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE '%latchkey_probe%'`;

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
      const rows = (await opened.db.execute(count)) as unknown as { n: number }[];
      // The three probes (the count has no parameter: postgres.js sends it as a simple query).
      expect(rows[0]!.n).toBe(3);
    } finally {
      await opened.close();
    }
  });

  it('sends them unnamed with prepare: false', async () => {
    const opened = openPostgres(url(), { max: 1, prepare: false });
    try {
      await opened.db.execute(sql`SELECT ${1}::int AS latchkey_probe_a`);
      const rows = (await opened.db.execute(count)) as unknown as { n: number }[];
      expect(rows[0]!.n).toBe(0);
    } finally {
      await opened.close();
    }
  });
});
