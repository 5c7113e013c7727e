import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { schema } from './schema.js';

/** What both drivers (postgres.js and PGlite) give us: a drizzle PostgreSQL database. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** postgres.js returns rows as an array, PGlite as `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
