#!/usr/bin/env node
// `node scripts/package-size.mjs`: the size budgets of the published packages (issue #19), on
// what a consumer's bundler would ship. Each package's entry points are read from its
// package.json `exports` (one home: what a consumer imports is what is measured), bundled
// with esbuild (minified ESM, `jose` and `hono` left to the app), and gzipped. Prints a table
// and exits 1 when a package is over its budget. Run after the build (packages/*/dist).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KIB = 1024;

/** The budgets, gzipped, for every entry point of the package bundled together. */
const PACKAGES = [
  { dir: 'packages/verify', label: 'kit', budget: 12 * KIB },
  { dir: 'packages/client', label: 'client', budget: 5 * KIB },
];
const EXTERNAL = ['jose', 'hono', 'hono/*'];

/** `exports` entries that are code: `{ ".": { default: "./dist/…js" } }` and the like. */
function codeEntries(pkg) {
  const entries = [];
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    const file = typeof target === 'string' ? target : (target.import ?? target.default);
    if (typeof file === 'string' && /\.m?js$/.test(file)) entries.push({ subpath, file });
  }
  return entries;
}

async function bundledSize(contents, resolveDir) {
  const result = await build({
    stdin: { contents, resolveDir, sourcefile: 'entry.js', loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: EXTERNAL,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  return { min: code.length, gz: gzipSync(code, { level: 9 }).length };
}

const format = (bytes) => `${(bytes / KIB).toFixed(2)} KiB`;
const rows = [];
let over = false;
for (const { dir, label, budget } of PACKAGES) {
  const pkgDir = join(root, dir);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const entries = codeEntries(pkg);
  if (entries.length === 0) throw new Error(`${dir}/package.json: no code entry in exports`);
  for (const { file } of entries) {
    if (!existsSync(join(pkgDir, file)))
      throw new Error(`${dir}/${file} is missing: run npm run build first`);
  }
  for (const { subpath, file } of entries) {
    const size = await bundledSize(`export * from ${JSON.stringify(file)};`, pkgDir);
    rows.push({ name: `${pkg.name}${subpath === '.' ? '' : subpath.slice(1)}`, ...size, budget: '' });
  }
  // Every entry point together: what an app using all of the package ships.
  const all = entries.map(({ file }, i) => `export * as e${i} from ${JSON.stringify(file)};`).join('\n');
  const size = await bundledSize(all, pkgDir);
  const ok = size.gz <= budget;
  over ||= !ok;
  rows.push({
    name: `${pkg.name} (${label}, all entries)`,
    ...size,
    budget: `${format(budget)} ${ok ? 'ok' : 'OVER'}`,
  });
}

const width = Math.max(...rows.map((row) => row.name.length));
console.log(
  `${'package'.padEnd(width)}  ${'minified'.padStart(10)}  ${'gzipped'.padStart(10)}  budget (gzipped)`,
);
for (const row of rows) {
  console.log(
    `${row.name.padEnd(width)}  ${format(row.min).padStart(10)}  ${format(row.gz).padStart(10)}  ${row.budget}`,
  );
}
console.log(`(esbuild, minified ESM, ${EXTERNAL.join(', ')} external; gzip -9)`);
if (over) {
  console.error('package-size: a package is over its budget');
  process.exit(1);
}
