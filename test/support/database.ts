import { readFile } from 'node:fs/promises';
import postgres from 'postgres';
import { inject } from 'vitest';
import type { Database } from '../../src/adapters/db/database.js';
import { openPglite } from '../../src/adapters/db/pglite.js';
import { openPostgres } from '../../src/adapters/db/postgres.js';
import { maintenanceUrl } from './global-setup.js';

export const onPostgres = Boolean(inject('postgresTemplate'));
/** The test files reach PostgreSQL through a pooler (TEST_DATABASE_POOLER_URL). */
export const throughPooler = Boolean(inject('postgresPooler'));

export interface TestDatabase {
  db: Database;
  /** PostgreSQL: the file's database, directly (not through the pooler, if there is one). */
  directUrl?: string;
  /** Closes and opens the connection again: a process restart, as far as the data goes. */
  reopen(): Promise<Database>;
  close(): Promise<void>;
}

let counter = 0;

/**
 * A database of the test file's own, real and migrated: a PGlite loaded from the migrated
 * snapshot, or a PostgreSQL database cloned from the migrated template.
 */
export async function openTestDatabase(options: { dataDir?: string } = {}): Promise<TestDatabase> {
  const template = inject('postgresTemplate');
  if (template) {
    const templateName = new URL(template).pathname.slice(1);
    const name = `${templateName}_f${process.pid}_${Date.now()}_${counter++}`;
    const admin = postgres(maintenanceUrl(template), { max: 1, onnotice: () => {} });
    await admin`CREATE DATABASE ${admin(name)} TEMPLATE ${admin(templateName)}`;
    // Through the pooler when there is one (same database name: PgBouncer's `*` entry).
    const url = new URL(inject('postgresPooler') || template);
    url.pathname = `/${name}`;
    const open = () => openPostgres(url.toString(), { max: 20, prepare: inject('postgresPrepare') });
    let opened = open();
    const direct = new URL(template);
    direct.pathname = `/${name}`;
    return {
      directUrl: direct.toString(),
      get db() {
        return opened.db;
      },
      async reopen() {
        await opened.close();
        opened = open();
        return opened.db;
      },
      async close() {
        await opened.close();
        await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
        await admin.end();
      },
    };
  }
  const snapshot = new Blob([new Uint8Array(await readFile(inject('pgliteSnapshot')))]);
  let opened = await openPglite({ snapshot, ...(options.dataDir ? { dataDir: options.dataDir } : {}) });
  return {
    get db() {
      return opened.db;
    },
    async reopen() {
      if (!options.dataDir) throw new Error('reopen needs a dataDir on PGlite');
      await opened.close();
      opened = await openPglite({ dataDir: options.dataDir });
      return opened.db;
    },
    close: () => opened.close(),
  };
}
