import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openPglite } from '../../src/adapters/db/pglite.js';
import { migratePostgres } from '../../src/adapters/db/postgres.js';
import { MIGRATIONS_FOLDER } from '../../src/entry/node-runtime.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshot: string;
    postgresTemplate: string;
    /** The pooler's URL (TEST_DATABASE_POOLER_URL), empty when the files connect directly. */
    postgresPooler: string;
    /** TEST_DATABASE_PREPARE: what openPostgres gets as `prepare` (DATABASE_PREPARE). */
    postgresPrepare: boolean;
  }
}

/**
 * Builds `dist/` and the packages' `dist/` (the `@latchkey/verify` kit) and runs the real migrations once. On PGlite (default) it saves a snapshot of the migrated
 * data directory that each test file loads; with TEST_DATABASE_URL it migrates that
 * database, which each test file then clones as a template (see database.ts).
 *
 * TEST_DATABASE_POOLER_URL (e.g. postgres://postgres@127.0.0.1:6432, a PgBouncer in front of
 * TEST_DATABASE_URL's server): each file's database is still created and dropped directly,
 * but the app reaches it through the pooler, with TEST_DATABASE_PREPARE (default true) as
 * its `prepare` option — the topology of .ci/pgbouncer.sh.
 */
export default async function setup(project: TestProject) {
  // The kit's and the client's tests import the built packages (`@latchkey/verify`,
  // `@latchkey/client`, linked by npm workspaces) from plain Node: build them from this source.
  for (const tsconfig of [
    'tsconfig.build.json',
    'packages/verify/tsconfig.json',
    'packages/client/tsconfig.json',
  ]) {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', tsconfig], { stdio: 'inherit' });
  }
  const url = process.env.TEST_DATABASE_URL;
  const pooler = process.env.TEST_DATABASE_POOLER_URL ?? '';
  if (pooler && !url) throw new Error('TEST_DATABASE_POOLER_URL needs TEST_DATABASE_URL (the direct URL)');
  project.provide('postgresPooler', pooler);
  project.provide('postgresPrepare', process.env.TEST_DATABASE_PREPARE !== 'false');
  if (url) {
    await migratePostgres(url, MIGRATIONS_FOLDER);
    project.provide('postgresTemplate', url);
    project.provide('pgliteSnapshot', '');
    return async () => {
      // Drop the per-file clones this run left behind (a crashed worker may not have).
      const admin = postgres(maintenanceUrl(url), { max: 1, onnotice: () => {} });
      const name = new URL(url).pathname.slice(1);
      const clones = await admin`SELECT datname FROM pg_database WHERE datname LIKE ${`${name}\\_f%`}`;
      for (const { datname } of clones) await admin`DROP DATABASE IF EXISTS ${admin(datname)} WITH (FORCE)`;
      await admin.end();
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-test-'));
  const file = join(dir, 'migrated.tar');
  const { client, close } = await openPglite({ migrationsFolder: MIGRATIONS_FOLDER });
  const snapshot = await client.dumpDataDir('none');
  await writeFile(file, new Uint8Array(await snapshot.arrayBuffer()));
  await close();
  project.provide('pgliteSnapshot', file);
  project.provide('postgresTemplate', '');
  return () => rm(dir, { recursive: true, force: true });
}

export function maintenanceUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}
