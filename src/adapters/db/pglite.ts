import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { createGunzip } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { trimEnd } from '../../lib/text.js';
import type { Database } from './database.js';
import { schema } from './schema.js';

export interface OpenedDatabase {
  db: Database;
  close(): Promise<void>;
}

/**
 * PostgreSQL settings for the embedded database, on top of PGlite's own start parameters
 * (single-user mode, fsync off, no parallel workers). Each one is safe because PGlite is one
 * backend in this process serving one small auth database:
 *
 * - shared_buffers 16MB (initdb writes 128MB): PostgreSQL touches its whole buffer pool at start,
 *   inside the WASM memory, and WASM memory never shrinks; measured 310 -> 152 MiB RSS at start
 *   for PGlite alone. The auth tables' working set is far smaller (a few MB for thousands of
 *   users), and a page evicted from the pool is re-read from the OS page cache, not the disk.
 *   wal_buffers follows (1/32 of it, 512kB).
 * - max_connections 4: single-user mode has exactly one backend; the shared memory PostgreSQL
 *   sizes per connection (PGPROC entries, the lock table) is otherwise reserved for 100.
 *
 * Passed as `-c` parameters on every start, so a data directory made by an older version
 * (postgresql.conf still says 128MB) gets them too. See scripts/pglite-measure.mjs for figures.
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB',
  max_connections: '4',
};

/**
 * PGlite's PostgreSQL is ~9 MB of WebAssembly. V8 compiles it with its baseline compiler
 * (Liftoff), then recompiles the hot functions with its optimising one (TurboFan) in the
 * background, and the optimised code and the compiler's memory stay. Measured on the 2-vCPU
 * bench machine: after a registration, a login and 400 refreshes over HTTP, 317-323 MiB RSS with
 * tier-up and 238-241 MiB with Liftoff only; a refresh in process (npm run bench) 3.65 ms with
 * tier-up and 4.96 ms without. The embedded database is the newcomer's default and a small
 * deployment's, where memory is the scarcer of the two (issue #21: idle under 250 MiB), so it
 * runs on Liftoff only unless `optimize` (PGLITE_OPTIMIZE=true). A V8 flag is process-wide;
 * nothing else of ours runs WebAssembly on Node. Set here it counts on Node 20 and 22 only: from
 * Node 24 V8 tiers up all the same, and the server entry gives it at launch (src/entry/node-flags.ts).
 */
function baselineWasmOnly(): void {
  setFlagsFromString('--liftoff-only');
}

const startParams = () => [
  ...PGlite.defaultStartParams,
  ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
];

/**
 * A migrated, empty data directory made at build time (scripts/pglite-snapshot.mjs): a gzipped
 * ustar archive of the data directory after a clean shutdown, and this manifest beside it.
 * A first start extracts it instead of running initdb in WASM (seconds, and ~800 MiB peak).
 */
export interface PgliteSnapshotManifest {
  format: 1;
  /** The @electric-sql/pglite version that wrote it: another one may not read its files. */
  pglite: string;
  /** The migrations it holds, in order, as drizzle records them (sha256 of the SQL file, journal `when`). */
  migrations: { tag: string; hash: string; folderMillis: number }[];
}

/** How the data directory came to be, for the log and the tests. */
export type PgliteOrigin = 'memory' | 'existing' | 'snapshot' | 'initdb';

/** The installed PGlite's version, read from its package.json (not in its `exports`: found by path). */
export async function pgliteVersion(): Promise<string> {
  const wasm = createRequire(import.meta.url).resolve('@electric-sql/pglite/pglite.wasm');
  const pkg = JSON.parse(await readFile(join(dirname(wasm), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Why a snapshot cannot seed a database with these migrations, or undefined when it can. It
 * must come from the installed PGlite, and hold a prefix of the migrations, byte for byte (the
 * same hashes): the migrator then applies only the newer ones on top, as on any database.
 * A migration edited after the snapshot was made, or one the folder does not have, is stale.
 */
export async function snapshotMismatch(
  manifest: PgliteSnapshotManifest,
  migrationsFolder: string,
): Promise<string | undefined> {
  if (manifest.format !== 1) return `unknown snapshot format ${String(manifest.format)}`;
  const version = await pgliteVersion();
  if (manifest.pglite !== version) return `made by PGlite ${manifest.pglite}, this is ${version}`;
  const current = readMigrationFiles({ migrationsFolder });
  if (manifest.migrations.length > current.length) return 'it holds migrations this folder does not have';
  for (const [i, held] of manifest.migrations.entries()) {
    const migration = current[i];
    if (!migration || migration.hash !== held.hash || migration.folderMillis !== held.folderMillis) {
      return `migration ${held.tag} differs from the one in ${migrationsFolder}`;
    }
  }
  return undefined;
}

/** Marks a data directory being extracted: found at a start, the extraction was cut short. */
const SEEDING_MARKER = '.latchkey-seeding';

/**
 * Extracts a gzipped ustar archive (what scripts/pglite-snapshot.mjs writes; PGlite's own
 * dumpDataDir output reads too) into `dir`. Regular files and directories only: a data
 * directory holds nothing else. Entry names are confined to `dir` (no `..`, no absolute path).
 * PG_VERSION is written last and the marker removed after it, so a directory with PG_VERSION
 * and no marker is whole. Streamed: the 41 MB tar is never in memory at once (measured
 * +23 MiB RSS when it was), only the 4.5 MB archive and one gunzip chunk.
 *
 * The files are written with synchronous calls: this runs once, before the server listens, and
 * its ~1,100 files in ~2,600 pieces each cost a thread-pool round trip when written with
 * promises (measured: 1.7 s of a 4.5 s first start, mostly waiting; 0.2 s synchronous).
 */
export async function extractSnapshot(archive: Uint8Array, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SEEDING_MARKER), '');
  const text = new TextDecoder();
  const header = new Uint8Array(512);
  const field = (offset: number, length: number) =>
    text.decode(header.subarray(offset, offset + length)).replace(/\0.*$/s, '');
  let headerFill = 0;
  /** The entry being written: bytes of data still to come, then padding to skip. */
  let entry: { path: string; left: number; pad: number; fd?: number; kept?: Uint8Array[] } | undefined;
  let pgVersion: Uint8Array | undefined;
  let ended = false;
  const close = () => {
    if (entry?.fd !== undefined) closeSync(entry.fd);
    if (entry) entry.fd = undefined;
  };
  const finish = () => {
    if (!entry) return;
    close();
    if (entry.kept) {
      pgVersion = new Uint8Array(entry.kept.reduce((n, part) => n + part.length, 0));
      let at = 0;
      for (const part of entry.kept) {
        pgVersion.set(part, at);
        at += part.length;
      }
    }
    entry = undefined;
  };
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  gunzip.end(archive);
  try {
    for await (const chunk of gunzip as AsyncIterable<Uint8Array>) {
      let at = 0;
      while (at < chunk.length && !ended) {
        if (entry && entry.left > 0) {
          const part = chunk.subarray(at, at + entry.left);
          at += part.length;
          entry.left -= part.length;
          if (entry.fd !== undefined) writeAll(entry.fd, part);
          else entry.kept?.push(part.slice());
        } else if (entry && entry.pad > 0) {
          const skip = Math.min(entry.pad, chunk.length - at);
          at += skip;
          entry.pad -= skip;
        } else if (entry) {
          finish();
        } else {
          const take = Math.min(512 - headerFill, chunk.length - at);
          header.set(chunk.subarray(at, at + take), headerFill);
          headerFill += take;
          at += take;
          if (headerFill < 512) continue;
          headerFill = 0;
          if (header.every((byte) => byte === 0)) {
            ended = true; // end of archive
            break;
          }
          entry = startEntry(dir, field);
        }
      }
    }
    // A whole archive ends with zero blocks (POSIX ustar; tinytar, PGlite's, writes them too).
    if (!ended || (entry && (entry.left > 0 || entry.pad > 0)))
      throw new Error('snapshot archive is truncated');
    finish();
  } finally {
    close();
  }
  if (!pgVersion) throw new Error('snapshot has no PG_VERSION: not a data directory');
  await writeFile(join(dir, 'PG_VERSION'), pgVersion);
  await rm(join(dir, SEEDING_MARKER));
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
}

/** Opens the entry a ustar header describes: a directory made, a file opened (PG_VERSION kept for last). */
function startEntry(dir: string, field: (offset: number, length: number) => string) {
  const prefix = field(345, 155);
  const name = (prefix ? `${prefix}/` : '') + field(0, 100);
  const size = Number.parseInt(field(124, 12).trim() || '0', 8);
  const type = field(156, 1) || '0';
  const path = trimEnd(name.replace(/^\/+/, ''), '/');
  if (!Number.isSafeInteger(size) || size < 0 || path.split('/').some((part) => part === '..')) {
    throw new Error(`snapshot entry ${JSON.stringify(name)} is not a data directory file`);
  }
  const entry: { path: string; left: number; pad: number; fd?: number; kept?: Uint8Array[] } = {
    path,
    left: size,
    pad: (512 - (size % 512)) % 512,
  };
  if (path && type === '5') mkdirSync(join(dir, path), { recursive: true });
  else if (path === 'PG_VERSION') entry.kept = [];
  else if (path && (type === '0' || type === '7')) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    entry.fd = openSync(join(dir, path), 'w');
  }
  return entry;
}

/** Empties a data directory an extraction left half done (its marker is there). */
async function clearHalfSeeded(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch(() => [] as string[]);
  if (!entries.includes(SEEDING_MARKER)) return;
  // The marker goes last: remove everything else first, so a crash here leaves it to retry.
  for (const entry of entries) {
    if (entry !== SEEDING_MARKER) await rm(join(dataDir, entry), { recursive: true, force: true });
  }
  await rm(join(dataDir, SEEDING_MARKER), { force: true });
}

/**
 * Seeds an empty data directory from the snapshot when it is there and current; says why not
 * otherwise (then PGlite runs initdb as before). A directory that holds anything is never touched.
 */
export async function seedDataDir(
  dataDir: string,
  seed: { archive: string; manifest: string },
  migrationsFolder: string,
): Promise<string | undefined> {
  const entries = await readdir(dataDir).catch(() => [] as string[]);
  if (entries.length > 0) return 'the data directory is not empty';
  let manifest: PgliteSnapshotManifest;
  try {
    manifest = JSON.parse(await readFile(seed.manifest, 'utf8')) as PgliteSnapshotManifest;
  } catch {
    return `no snapshot at ${seed.manifest} (npm run build makes it)`;
  }
  const mismatch = await snapshotMismatch(manifest, migrationsFolder);
  if (mismatch) return `stale snapshot: ${mismatch}`;
  try {
    await extractSnapshot(await readFile(seed.archive), dataDir);
  } catch (error) {
    // A damaged archive must not keep the server from starting: empty the directory for initdb.
    await clearHalfSeeded(dataDir);
    return `unreadable snapshot: ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}

/**
 * The embedded database: PostgreSQL compiled to WASM, kept in `dataDir` (or in memory).
 * `snapshot` starts from a `dumpDataDir()` tarball instead of running initdb, which is
 * what the tests do: initdb costs seconds and ~1 GB, loading a snapshot a fraction of that.
 * `seed` is the build's migrated data directory (see PgliteSnapshotManifest): an empty
 * `dataDir` is extracted from it on disk, which costs less than `snapshot` (no copy of the
 * files through the WASM filesystem). Stale or missing, it is passed over for initdb.
 */
export async function openPglite(options: {
  dataDir?: string;
  snapshot?: Blob;
  seed?: { archive: string; manifest: string };
  migrationsFolder?: string;
  /** V8's optimising compiler for PGlite too (see baselineWasmOnly); once off, off for the process. */
  optimize?: boolean;
}): Promise<OpenedDatabase & { client: PGlite; origin: PgliteOrigin; seedRefused?: string }> {
  let origin: PgliteOrigin = options.dataDir ? 'existing' : 'memory';
  let seedRefused: string | undefined;
  if (options.snapshot) origin = 'snapshot';
  else if (options.dataDir) {
    await clearHalfSeeded(options.dataDir);
    const exists = await readFile(join(options.dataDir, 'PG_VERSION')).then(
      () => true,
      () => false,
    );
    if (!exists) {
      origin = 'initdb';
      if (options.seed && options.migrationsFolder) {
        seedRefused = await seedDataDir(options.dataDir, options.seed, options.migrationsFolder);
        if (!seedRefused) origin = 'snapshot';
      }
    }
  }
  if (!options.optimize) baselineWasmOnly();
  const create = () =>
    PGlite.create({
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.snapshot ? { loadDataDir: options.snapshot } : {}),
      startParams: startParams(),
    });
  let client: PGlite;
  try {
    client = await create();
  } catch (error) {
    // A seed PGlite cannot open (its checks passed, so this should not happen): start over
    // from initdb rather than leave a newcomer with a server that does not start.
    if (origin !== 'snapshot' || !options.dataDir || options.snapshot) throw error;
    for (const entry of await readdir(options.dataDir)) {
      await rm(join(options.dataDir, entry), { recursive: true, force: true });
    }
    origin = 'initdb';
    seedRefused = `PGlite could not open the snapshot: ${error instanceof Error ? error.message : String(error)}`;
    client = await create();
  }
  const db = drizzle(client, { schema }) as unknown as Database;
  if (options.migrationsFolder) {
    await migrate(db as never, { migrationsFolder: options.migrationsFolder });
  }
  return {
    db,
    client,
    origin,
    ...(seedRefused ? { seedRefused } : {}),
    close: () => client.close(),
  };
}
