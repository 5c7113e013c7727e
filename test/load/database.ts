import postgres from 'postgres';

/**
 * The PostgreSQL database of a load run: LOAD_DATABASE_URL or TEST_DATABASE_URL when given
 * (kept afterwards), otherwise a scratch database `latchkey_load_<time>_<pid>` created on
 * the local server (LOAD_ADMIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)
 * and dropped WITH (FORCE) by `drop()`, which the test calls however the run ended.
 */

const ADMIN_URL = process.env.LOAD_ADMIN_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface LoadDatabase {
  url: string;
  /** Whether this run created the database (and so drops it). */
  scratch: boolean;
  drop(): Promise<void>;
}

const admin = () => postgres(ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 10 });

export async function openLoadDatabase(): Promise<LoadDatabase> {
  const given = process.env.LOAD_DATABASE_URL || process.env.TEST_DATABASE_URL;
  if (given) return { url: given, scratch: false, drop: async () => {} };

  const name = `latchkey_load_${Date.now()}_${process.pid}`;
  const sql = admin();
  try {
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } catch (error) {
    throw new Error(
      `cannot create the scratch database ${name} on ${ADMIN_URL} (is PostgreSQL running? ` +
        `set LOAD_DATABASE_URL to use another one): ${(error as Error).message}`,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    scratch: true,
    async drop() {
      if (dropped) return;
      const dropSql = admin();
      try {
        await dropSql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        dropped = true;
      } finally {
        await dropSql.end({ timeout: 5 });
      }
    },
  };
}
