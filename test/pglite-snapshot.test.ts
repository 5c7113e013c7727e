import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, rowsOf } from '../src/adapters/db/database.js';
import {
  extractSnapshot,
  openPglite,
  type PgliteSnapshotManifest,
  pgliteVersion,
  seedDataDir,
  snapshotMismatch,
} from '../src/adapters/db/pglite.js';
import { MIGRATIONS_FOLDER, PGLITE_SEED } from '../src/entry/node-runtime.js';
import { login, registerUser } from './support/client.js';
import { onPostgres, openTestDatabase } from './support/database.js';
import { buildLatchkey } from './support/harness.js';

/**
 * The embedded default's first start (issue #21): `npm run build` makes a migrated, empty data
 * directory (scripts/pglite-snapshot.mjs) and a first start on an empty DATA_DIR extracts it
 * instead of running initdb. These tests use the build's own snapshot (the script is run here
 * first: a no-op when dist/pglite is current) and never run initdb themselves: the reference
 * database "migrations alone" is the global setup's, made by initdb and the migrator.
 * PGlite only: on a TEST_DATABASE_URL run the PGlite run covers it.
 */
describe.skipIf(onPostgres)('PGlite seeded from the build snapshot', () => {
  let work: string;
  let manifest: PgliteSnapshotManifest;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/pglite-snapshot.mjs'], { stdio: 'inherit' });
    manifest = JSON.parse(await readFile(PGLITE_SEED.manifest, 'utf8'));
    work = await mkdtemp(join(tmpdir(), 'pglite-snapshot-test-'));
  }, 180_000);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a first start on an empty directory is seeded, migrated and serves register + login, and so does a restart', async () => {
    const dataDir = join(work, 'first-start');
    await mkdir(dataDir);
    const opened = await openPglite({ dataDir, seed: PGLITE_SEED, migrationsFolder: MIGRATIONS_FOLDER });
    expect(opened.origin).toBe('snapshot');
    expect(opened.seedRefused).toBeUndefined();
    expect(await readdir(dataDir)).not.toContain('.latchkey-seeding');
    const applied = await count(opened.db, sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
    expect(applied).toBe(manifest.migrations.length);

    let database = { db: opened.db, reopen: async () => opened.db, close: () => opened.close() };
    let latchkey = await buildLatchkey(database);
    const user = await registerUser(latchkey.app);
    expect((await login(latchkey.app, user.email)).access_token).toBeTruthy();
    await opened.close();

    // Second start: the directory is a database now; nothing is extracted again.
    const again = await openPglite({ dataDir, seed: PGLITE_SEED, migrationsFolder: MIGRATIONS_FOLDER });
    try {
      expect(again.origin).toBe('existing');
      database = { db: again.db, reopen: async () => again.db, close: () => again.close() };
      latchkey = await buildLatchkey(database);
      expect((await login(latchkey.app, user.email)).access_token).toBeTruthy();
    } finally {
      await again.close();
    }
  });

  it('holds the schema the migrations alone produce (tables, columns, constraints, indexes, migrations)', async () => {
    const dataDir = join(work, 'schema');
    const seeded = await openPglite({ dataDir, seed: PGLITE_SEED, migrationsFolder: MIGRATIONS_FOLDER });
    const reference = await openTestDatabase();
    try {
      expect(seeded.origin).toBe('snapshot');
      const listing = await schemaListing(seeded.db);
      expect(listing.columns.length).toBeGreaterThan(50);
      expect(listing).toEqual(await schemaListing(reference.db));
    } finally {
      await seeded.close();
      await reference.close();
    }
  });

  it('migrations newer than the snapshot are applied on top of it', async () => {
    const folder = join(work, 'migrations-plus-one');
    await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journalPath = join(folder, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(journalPath, 'utf8'));
    const last = journal.entries.at(-1);
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag: '9999_snapshot_test' });
    await writeFile(journalPath, JSON.stringify(journal));
    await writeFile(
      join(folder, '9999_snapshot_test.sql'),
      'CREATE TABLE "snapshot_probe" ("id" integer PRIMARY KEY);',
    );

    expect(await snapshotMismatch(manifest, folder)).toBeUndefined(); // a prefix: accepted
    const opened = await openPglite({
      dataDir: join(work, 'plus-one'),
      seed: PGLITE_SEED,
      migrationsFolder: folder,
    });
    try {
      expect(opened.origin).toBe('snapshot');
      const probe = await count(opened.db, sql`SELECT count(*)::int AS n FROM snapshot_probe`);
      expect(probe).toBe(0);
      const applied = await count(
        opened.db,
        sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`,
      );
      expect(applied).toBe(manifest.migrations.length + 1);
    } finally {
      await opened.close();
    }
  });

  it('a stale snapshot is refused and the directory left empty for initdb', async () => {
    const staleManifest = async (name: string, changed: PgliteSnapshotManifest) => {
      const path = join(work, `${name}.json`);
      await writeFile(path, JSON.stringify(changed));
      return path;
    };
    const first = manifest.migrations[0]!;
    const cases: [string, PgliteSnapshotManifest, RegExp][] = [
      [
        'edited',
        { ...manifest, migrations: [{ ...first, hash: '0'.repeat(64) }, ...manifest.migrations.slice(1)] },
        /migration 0000_\w+ differs/,
      ],
      [
        'ahead',
        {
          ...manifest,
          migrations: [...manifest.migrations, { tag: '9999_future', hash: 'f'.repeat(64), folderMillis: 1 }],
        },
        /migrations this folder does not have/,
      ],
      ['other-pglite', { ...manifest, pglite: '0.0.1' }, /made by PGlite 0\.0\.1, this is \d/],
      ['unknown-format', { ...manifest, format: 2 as never }, /unknown snapshot format 2/],
    ];
    for (const [name, changed, reason] of cases) {
      expect(await snapshotMismatch(changed, MIGRATIONS_FOLDER)).toMatch(reason);
      const dataDir = join(work, `stale-${name}`);
      await mkdir(dataDir);
      const refused = await seedDataDir(
        dataDir,
        { archive: PGLITE_SEED.archive, manifest: await staleManifest(name, changed) },
        MIGRATIONS_FOLDER,
      );
      expect(refused).toMatch(/^stale snapshot: /);
      expect(await readdir(dataDir)).toEqual([]);
    }
    expect(await snapshotMismatch(manifest, MIGRATIONS_FOLDER)).toBeUndefined();
    expect(manifest.pglite).toBe(await pgliteVersion());
  });

  it('a missing snapshot or a directory that is not empty is never seeded', async () => {
    const empty = join(work, 'no-snapshot');
    await mkdir(empty);
    const missing = { archive: join(work, 'none.tar.gz'), manifest: join(work, 'none.json') };
    expect(await seedDataDir(empty, missing, MIGRATIONS_FOLDER)).toMatch(/^no snapshot at /);
    const used = join(work, 'not-empty');
    await mkdir(used);
    await writeFile(join(used, 'something'), 'kept');
    expect(await seedDataDir(used, PGLITE_SEED, MIGRATIONS_FOLDER)).toBe('the data directory is not empty');
    expect(await readdir(used)).toEqual(['something']);
  });

  it('an extraction cut short is cleared and done again at the next start', async () => {
    const dataDir = join(work, 'half');
    await mkdir(join(dataDir, 'base'), { recursive: true });
    await writeFile(join(dataDir, '.latchkey-seeding'), '');
    await writeFile(join(dataDir, 'base', 'partial'), 'half a file');
    const opened = await openPglite({ dataDir, seed: PGLITE_SEED, migrationsFolder: MIGRATIONS_FOLDER });
    try {
      expect(opened.origin).toBe('snapshot');
      expect(await readdir(dataDir)).not.toContain('.latchkey-seeding');
      expect(await readdir(join(dataDir, 'base'))).not.toContain('partial');
    } finally {
      await opened.close();
    }
  });

  it('an archive entry that leaves the directory is refused', async () => {
    const block = Buffer.alloc(512);
    block.write('../escaped', 0);
    block.write('0000644\0', 100);
    block.write(`${(4).toString(8).padStart(11, '0')}\0`, 124);
    block.write('0', 156);
    const archive = gzipSync(
      Buffer.concat([block, Buffer.from('evil'.padEnd(512, '\0')), Buffer.alloc(1024)]),
    );
    const dataDir = join(work, 'escape', 'data');
    await expect(extractSnapshot(archive, dataDir)).rejects.toThrow(/not a data directory file/);
    expect(await readdir(join(work, 'escape'))).toEqual(['data']);
  });

  it('a truncated archive is refused, and the directory stays marked for a fresh extraction', async () => {
    const whole = gunzipSync(await readFile(PGLITE_SEED.archive));
    const dataDir = join(work, 'truncated');
    await expect(extractSnapshot(gzipSync(whole.subarray(0, 700)), dataDir)).rejects.toThrow(/truncated/);
    expect(await readdir(dataDir)).toContain('.latchkey-seeding');
    expect(await readdir(dataDir)).not.toContain('PG_VERSION');

    // Met at a first start, the damaged archive is passed over for initdb, the directory emptied.
    const damaged = join(work, 'damaged.tar.gz');
    await writeFile(damaged, gzipSync(whole.subarray(0, 700)));
    const empty = join(work, 'damaged-seed');
    await mkdir(empty);
    const refused = await seedDataDir(empty, { ...PGLITE_SEED, archive: damaged }, MIGRATIONS_FOLDER);
    expect(refused).toMatch(/^unreadable snapshot: snapshot archive is truncated/);
    expect(await readdir(empty)).toEqual([]);
  });
});

/** The `n` of a `SELECT count(*)::int AS n`. */
async function count(db: Database, query: ReturnType<typeof sql>): Promise<number | undefined> {
  return rowsOf<{ n: number }>(await db.execute(query))[0]?.n;
}

/** What the migrations define, in a stable order: enough to tell two schemas apart. */
async function schemaListing(db: Database) {
  const rows = async (query: ReturnType<typeof sql>) =>
    rowsOf<Record<string, unknown>>(await db.execute(query));
  return {
    columns: await rows(sql`
      SELECT table_schema, table_name, column_name, ordinal_position, data_type, udt_name,
             is_nullable, column_default, character_maximum_length
      FROM information_schema.columns
      WHERE table_schema IN ('public', 'drizzle')
      ORDER BY table_schema, table_name, ordinal_position`),
    constraints: await rows(sql`
      SELECT n.nspname, c.conrelid::regclass::text AS rel, c.conname, c.contype, pg_get_constraintdef(c.oid) AS def
      FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE n.nspname IN ('public', 'drizzle')
      ORDER BY 1, 2, 3`),
    indexes: await rows(sql`
      SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
      WHERE schemaname IN ('public', 'drizzle') ORDER BY 1, 2, 3`),
    types: await rows(sql`
      SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY 1`),
    functions: await rows(sql`
      SELECT p.proname, pg_get_functiondef(p.oid) AS def FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1, 2`),
    triggers: await rows(sql`
      SELECT tgrelid::regclass::text AS rel, tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger
      WHERE NOT tgisinternal ORDER BY 1, 2`),
    migrations: await rows(
      sql`SELECT id, hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id`,
    ),
  };
}
