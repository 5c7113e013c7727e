import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import type { Database } from './database.js';
import { schema } from './schema.js';

export interface OpenedDatabase {
  db: Database;
  close(): Promise<void>;
}

/**
 * The embedded database: PostgreSQL compiled to WASM, kept in `dataDir` (or in memory).
 * `snapshot` starts from a `dumpDataDir()` tarball instead of running initdb, which is
 * what the tests do: initdb costs seconds and ~1 GB, loading a snapshot a fraction of that.
 */
export async function openPglite(options: {
  dataDir?: string;
  snapshot?: Blob;
  migrationsFolder?: string;
}): Promise<OpenedDatabase & { client: PGlite }> {
  const client = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.snapshot ? { loadDataDir: options.snapshot } : {}),
  });
  const db = drizzle(client, { schema }) as unknown as Database;
  if (options.migrationsFolder) {
    await migrate(db as never, { migrationsFolder: options.migrationsFolder });
  }
  return { db, client, close: () => client.close() };
}
