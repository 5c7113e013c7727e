#!/usr/bin/env node
// `node scripts/pglite-snapshot.mjs [outDir]` (part of `npm run build`, after tsc): the embedded
// database's migrated, empty data directory (issue #21). It runs initdb and every migration of
// drizzle/ once, here, with the built adapter (dist/adapters/db/pglite.js), shuts PostgreSQL
// down cleanly, and writes
//
//   dist/pglite/migrated.tar.gz  the data directory, a gzipped ustar archive
//   dist/pglite/migrated.json    its manifest: the PGlite version and the migrations it holds
//
// A first start on an empty DATA_DIR extracts it instead of running initdb in WASM (openPglite's
// `seed`, wired in src/entry/node-runtime.ts): seconds and hundreds of MiB less. The archive is
// deterministic (sorted entries, fixed mtime), and skipped when the manifest already matches
// drizzle/ and the installed PGlite.
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'dist', 'pglite'));
const migrationsFolder = join(root, 'drizzle');
const archivePath = join(outDir, 'migrated.tar.gz');
const manifestPath = join(outDir, 'migrated.json');

const adapter = join(root, 'dist', 'adapters', 'db', 'pglite.js');
const { openPglite, pgliteVersion, snapshotMismatch } = await import(pathToFileURL(adapter).href).catch(
  () => {
    throw new Error(`${adapter} is missing: run tsc -p tsconfig.build.json first`);
  },
);
const { readMigrationFiles } = await import('drizzle-orm/migrator');

const journal = JSON.parse(await readFile(join(migrationsFolder, 'meta', '_journal.json'), 'utf8'));
const migrations = readMigrationFiles({ migrationsFolder }).map((m, i) => ({
  tag: journal.entries[i].tag,
  hash: m.hash,
  folderMillis: m.folderMillis,
}));

const existing = await readFile(manifestPath, 'utf8').then(JSON.parse, () => undefined);
const archiveThere = await stat(archivePath).then(
  () => true,
  () => false,
);
if (
  existing &&
  archiveThere &&
  existing.migrations.length === migrations.length &&
  (await snapshotMismatch(existing, migrationsFolder)) === undefined
) {
  console.log(`pglite snapshot: up to date (${migrations.length} migrations) in ${relative(root, outDir)}`);
  process.exit(0);
}

const began = performance.now();
const work = await mkdtemp(join(tmpdir(), 'latchkey-pglite-snapshot-'));
try {
  const dataDir = join(work, 'pgdata');
  // No seed: initdb and every migration, as a first start without the snapshot does.
  const opened = await openPglite({ dataDir, migrationsFolder });
  await opened.close(); // a clean shutdown: no WAL to replay when the copy starts

  /** Every directory and regular file under dir, sorted: the archive is the same every build. */
  const walk = async (dir) => {
    const out = [];
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) out.push({ path, dir: true }, ...(await walk(path)));
      else if (entry.isFile()) out.push({ path, dir: false });
    }
    return out;
  };

  const blocks = [];
  for (const entry of await walk(dataDir)) {
    const name = relative(dataDir, entry.path).split('\\').join('/') + (entry.dir ? '/' : '');
    const data = entry.dir ? new Uint8Array(0) : await readFile(entry.path);
    blocks.push(
      header(name, data.length, entry.dir),
      data,
      new Uint8Array((512 - (data.length % 512)) % 512),
    );
  }
  blocks.push(new Uint8Array(1024)); // end of archive: two zero blocks
  const archive = gzipSync(Buffer.concat(blocks), { level: 9 });

  await mkdir(outDir, { recursive: true });
  // Each file replaced whole (rename), the manifest last: a server or test reading them meanwhile
  // sees the old pair, or a new archive with the old manifest, which it refuses or reads right.
  const replace = async (path, data) => {
    await writeFile(`${path}.${process.pid}.tmp`, data);
    await rename(`${path}.${process.pid}.tmp`, path);
  };
  await replace(archivePath, archive);
  const manifest = { format: 1, pglite: await pgliteVersion(), migrations };
  await replace(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(
    `pglite snapshot: ${migrations.length} migrations, ${(archive.length / 1024 / 1024).toFixed(1)} MiB gzipped, ` +
      `in ${relative(root, outDir)} (${Math.round(performance.now() - began)} ms)`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}

/** A ustar header (POSIX.1-1988): names up to 100 bytes, which a data directory's paths are. */
function header(name, size, isDir) {
  if (Buffer.byteLength(name) > 100) throw new Error(`path too long for the archive: ${name}`);
  const block = Buffer.alloc(512);
  const put = (offset, length, value) => block.write(value, offset, length, 'utf8');
  const octal = (value, length) => value.toString(8).padStart(length - 1, '0');
  put(0, 100, name);
  put(100, 8, octal(isDir ? 0o700 : 0o600, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(size, 12));
  put(136, 12, octal(0, 12)); // mtime: fixed, for a reproducible archive
  put(148, 8, '        '); // the checksum is computed with its own field as spaces
  put(156, 1, isDir ? '5' : '0');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, 8, `${octal(sum, 7)}\0 `);
  return block;
}
