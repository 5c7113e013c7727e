import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { describe, expect, inject, it } from 'vitest';
import { migratePostgres } from '../src/adapters/db/postgres.js';
import { MIGRATIONS_FOLDER } from '../src/entry/node-runtime.js';
import { onPostgres, throughPooler } from './support/database.js';
import { maintenanceUrl } from './support/global-setup.js';

/**
 * Instances that start at once against one fresh database each migrate it: the migrations
 * are applied once, whoever wins, directly and through a transaction pooler (where a
 * session-level advisory lock would be taken on one server connection and released, or
 * not, on another).
 */
describe.skipIf(!onPostgres)('migrations on PostgreSQL', () => {
  const template = () => inject('postgresTemplate');

  async function withFreshDatabase(work: (name: string) => Promise<void>) {
    const admin = postgres(maintenanceUrl(template()), { max: 1, onnotice: () => {} });
    const name = `${new URL(template()).pathname.slice(1)}_m${process.pid}_${Date.now()}`;
    await admin`CREATE DATABASE ${admin(name)}`;
    try {
      await work(name);
    } finally {
      await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
      await admin.end();
    }
  }

  const urlOf = (base: string, name: string) => {
    const url = new URL(base);
    url.pathname = `/${name}`;
    return url.toString();
  };

  async function expectMigratedOnce(directUrl: string) {
    const journal = JSON.parse(await readFile(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as {
      entries: { when: number }[];
    };
    const client = postgres(directUrl, { max: 1, onnotice: () => {} });
    try {
      const rows = await client<{ created_at: string }[]>`
        SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at`;
      expect(rows.map((row) => Number(row.created_at))).toEqual(journal.entries.map((entry) => entry.when));
      // drizzle's own migrator reads the same table and finds nothing left to apply.
      await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
      const [count] = await client<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
      expect(count?.n).toBe(journal.entries.length);
    } finally {
      await client.end();
    }
  }

  it('four instances starting at once apply each migration once', async () => {
    await withFreshDatabase(async (name) => {
      const url = urlOf(template(), name);
      await Promise.all(Array.from({ length: 4 }, () => migratePostgres(url, MIGRATIONS_FOLDER)));
      await migratePostgres(url, MIGRATIONS_FOLDER);
      await expectMigratedOnce(url);
    });
  });

  it.skipIf(!throughPooler)('four instances starting at once through the transaction pooler', async () => {
    await withFreshDatabase(async (name) => {
      const url = urlOf(inject('postgresPooler'), name);
      // Twice: a lock left held by the first round would stall the second.
      for (let round = 0; round < 2; round++) {
        await Promise.all(Array.from({ length: 4 }, () => migratePostgres(url, MIGRATIONS_FOLDER)));
      }
      await expectMigratedOnce(urlOf(template(), name));
    });
  });
});
