import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { isUnavailableError } from '../src/adapters/db/failure-kind.js';
import { openPostgres } from '../src/adapters/db/postgres.js';
import { expectedCommand, UntrustedAnswerError } from '../src/adapters/db/postgres-answers.js';
import { onPostgres } from './support/database.js';
import { useDatabase } from './support/harness.js';

/**
 * The answer guard (postgres-answers.ts): a statement's answer must carry the command tag of
 * the statement sent, or the statement fails with 503 — never a success built on another
 * statement's answer (issue 15 §7).
 */
const TABLE: [sql: string, expected: string | null][] = [
  ['select 1', 'SELECT'],
  ['  /* a ) comment */ -- update\n SELECT 1', 'SELECT'],
  ['(select 1) union (select 2)', 'SELECT'],
  ['values (1), (2)', 'SELECT'],
  ['table latchkey_answers', 'SELECT'],
  ['insert into "users" ("email") values ($1) returning "id"', 'INSERT'],
  ['insert into t (a) values ($1) on conflict (a) do update set a = excluded.a', 'INSERT'],
  ['update "sessions" set "revoked_at" = $1 where "id" = $2', 'UPDATE'],
  ['delete from "mfa_challenges" where "id" = $1 returning "id"', 'DELETE'],
  // CTEs: the statement after the list, not the DML inside a CTE body.
  ['with x as (select 1) update t set a = 1 from x', 'UPDATE'],
  ['WITH gone AS (DELETE FROM s WHERE id = $1 RETURNING id) SELECT count(*) FROM gone', 'SELECT'],
  [
    'with a as (update t set x = 1 returning *), b as (insert into u select * from a returning *) delete from v',
    'DELETE',
  ],
  ['WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r', 'SELECT'],
  [
    'with x as materialized (select 1), y as not materialized (select 2) insert into t select * from x, y',
    'INSERT',
  ],
  ['with "select" as (select 1) insert into t select * from "select"', 'INSERT'],
  // Literals, quoted identifiers, dollar quotes and comments may hold keywords and parentheses.
  ["with x as (select ')' as p, 'update' as q) insert into t select * from x", 'INSERT'],
  ["with x as (select 'it''s ) here' as p) delete from t", 'DELETE'],
  ["with x as (select E'\\' ) insert' as p) delete from t", 'DELETE'],
  ['with x as (select $$ ) select $$ as p) update t set a = 1', 'UPDATE'],
  ['with x as (select $body$ ) delete $body$ as p) update t set a = 1', 'UPDATE'],
  ['with x as (select 1 /* ) select /* nested ( */ */) update t set a = $1', 'UPDATE'],
  ['with x as (select 1 as ")(") -- ) select\n delete from t', 'DELETE'],
  ["insert into t values ('; delete from t')", 'INSERT'],
  // Transaction control, as postgres.js writes it.
  ['begin ', 'BEGIN'],
  ['begin isolation level repeatable read read only', 'BEGIN'],
  ['start transaction', 'START TRANSACTION'],
  ['commit', 'COMMIT'],
  ['end', 'COMMIT'],
  ['rollback', 'ROLLBACK'],
  ['savepoint "s0"', 'SAVEPOINT'],
  ['rollback to "s0"', 'ROLLBACK'],
  ['release savepoint s0', 'RELEASE'],
  // Not checked: DDL, settings, several statements, two-phase commit, nothing at all.
  ['create table t (a int)', null],
  ['set local statement_timeout = 1000', null],
  ['commit prepared $1', null],
  ['select 1; select 2', null],
  ['with x as (select 1) select 2; delete from t', null],
  ['', null],
  ['-- only a comment', null],
  // A `;` that ends the only statement is still one statement.
  ['select 1;', 'SELECT'],
  ['select 1; -- done', 'SELECT'],
];

describe('the command tag expected of a SQL text', () => {
  it.each(TABLE)('%j → %s', (text, expected) => {
    expect(expectedCommand(text)).toBe(expected);
  });

  it('an untrusted answer is a database failure: 503, not a 500 nor a success', () => {
    const error = new UntrustedAnswerError('COMMIT', 'ROLLBACK');
    expect(isUnavailableError(error)).toBe(true);
    // drizzle wraps a failed query's error; the code is found through the cause.
    expect(isUnavailableError(new Error('Failed query: …', { cause: error }))).toBe(true);
    expect(error.message).not.toMatch(/\$|select|insert|update|delete/i);
  });
});

describe.skipIf(!onPostgres)('answers on PostgreSQL', () => {
  const database = useDatabase();
  const url = () => database.current.directUrl!;

  it('PostgreSQL answers each statement of the table with the tag we expect', async () => {
    const client = postgres(url(), { max: 1, onnotice: () => {} });
    try {
      await client.begin(async (tx) => {
        await tx.unsafe('CREATE TEMP TABLE latchkey_answers (a int PRIMARY KEY) ON COMMIT DROP');
        await tx.unsafe('CREATE TEMP TABLE t (a int PRIMARY KEY) ON COMMIT DROP');
        await tx.unsafe('CREATE TEMP TABLE u (a int PRIMARY KEY) ON COMMIT DROP');
        await tx.unsafe('CREATE TEMP TABLE v (a int PRIMARY KEY) ON COMMIT DROP');
        const statements: [string, unknown[]][] = [
          ['select 1', []],
          ['values (1), (2)', []],
          ['table latchkey_answers', []],
          ['insert into t (a) values ($1) on conflict (a) do update set a = excluded.a', [1]],
          ['with x as (select 1) update t set a = 1 from x', []],
          ['WITH gone AS (DELETE FROM t WHERE a = $1 RETURNING a) SELECT count(*) FROM gone', [1]],
          [
            'with a as (update t set a = 1 returning *), b as (insert into u select * from a returning *) delete from v',
            [],
          ],
          ["with x as (select ')' as p, 'update' as q) insert into t select 2 from x", []],
          ['savepoint "s0"', []],
          ['rollback to "s0"', []],
          ['release savepoint "s0"', []],
        ];
        for (const [text, params] of statements) {
          const result = await tx.unsafe(text, params as never[]);
          expect.soft(result.command, text).toBe(expectedCommand(text));
        }
      });
    } finally {
      await client.end();
    }
  });

  it('a COMMIT answered ROLLBACK fails instead of passing for a commit (the lost write of issue 15 §7)', async () => {
    // Named statements on a direct connection, then the server forgets them mid-transaction:
    // what a transaction pooler's next server connection is. postgres.js's cached `commit`
    // fails to bind, which aborts the transaction; postgres.js prepares it again and retries,
    // and COMMIT of the aborted transaction answers ROLLBACK.
    const opened = openPostgres(url(), { max: 1, prepare: true });
    try {
      await opened.db.execute(sql`CREATE TABLE IF NOT EXISTS latchkey_commit_probe (n int)`);
      await opened.db.transaction(async (tx) => {
        await tx.execute(sql`INSERT INTO latchkey_commit_probe VALUES (${1})`);
      });
      const lost = opened.db.transaction(async (tx) => {
        await tx.execute(sql`INSERT INTO latchkey_commit_probe VALUES (${2})`);
        await tx.execute(sql`DEALLOCATE ALL`);
      });
      await expect(lost).rejects.toBeInstanceOf(UntrustedAnswerError);
      await expect(lost).rejects.toMatchObject({ code: '08P01', expected: 'COMMIT', received: 'ROLLBACK' });
      const rows = await opened.db.execute(sql`SELECT n FROM latchkey_commit_probe ORDER BY n`);
      expect((rows as unknown as { n: number }[]).map((row) => row.n)).toEqual([1]);
    } finally {
      await opened.close();
    }
  });

  it("another statement's answer under the statement's name is refused", async () => {
    // A mis-routed named statement: the name postgres.js cached for our SELECT now stands for
    // an UPDATE on the server. Its answer (UPDATE 1, no rows) must not pass for "no rows".
    const opened = openPostgres(url(), { max: 1, prepare: true });
    try {
      await opened.db.execute(sql`CREATE TABLE IF NOT EXISTS latchkey_misroute_probe (n int)`);
      await opened.db.execute(sql`INSERT INTO latchkey_misroute_probe VALUES (1)`);
      const read = () =>
        opened.db.execute(
          sql`SELECT n AS latchkey_misroute FROM latchkey_misroute_probe WHERE n = ${1}::int`,
        );
      expect(await read()).toHaveLength(1);
      const named = (await opened.db.execute(
        sql`SELECT name FROM pg_prepared_statements WHERE statement LIKE '%AS latchkey_misroute %'`,
      )) as unknown as { name: string }[];
      const name = named[0]!.name;
      // Swap it on the pool's one server connection (SQL-level PREPARE shares the namespace).
      await opened.db.execute(sql.raw(`DEALLOCATE "${name}"`));
      await opened.db.execute(
        sql.raw(`PREPARE "${name}"(int) AS UPDATE latchkey_misroute_probe SET n = n + $1 - 1`),
      );
      const error = await read().catch((caught: unknown) => caught);
      expect(isUnavailableError(error)).toBe(true);
      expect(errorOf(error)).toBeInstanceOf(UntrustedAnswerError);
      expect(errorOf(error)).toMatchObject({ expected: 'SELECT', received: 'UPDATE' });
    } finally {
      await opened.close();
    }
  });
});

/** drizzle wraps a driver's error in "Failed query: …" with the driver's as its cause. */
function errorOf(error: unknown): unknown {
  return error instanceof UntrustedAnswerError ? error : (error as { cause?: unknown }).cause;
}
