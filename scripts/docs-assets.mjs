#!/usr/bin/env node
// Part of `npm run build`: Swagger UI's files for /docs (src/entry/docs-assets.ts serves them)
// copied from the installed swagger-ui-dist into dist/docs-assets/, with their licences and
// precompressed copies (.br at brotli's best, .gz at gzip's), so the server sends them
// compressed without compressing anything per request. swagger-ui-dist is a devDependency
// (it pulls in an install-time analytics script): a production install has only these files.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const outdir = process.argv[2] ?? 'dist/docs-assets'; // another folder: for a test
const FILES = ['swagger-ui-bundle.js', 'swagger-ui.css'];
const LICENCES = ['LICENSE', 'NOTICE', 'swagger-ui-bundle.js.LICENSE.txt'];

const packageJson = createRequire(import.meta.url).resolve('swagger-ui-dist/package.json');
const source = dirname(packageJson);
const { version } = JSON.parse(readFileSync(packageJson, 'utf8'));

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
for (const name of LICENCES) writeFileSync(join(outdir, name), readFileSync(join(source, name)));

const kib = (bytes) => `${(bytes / 1024).toFixed(1).padStart(7)} KiB`;
for (const name of FILES) {
  const file = readFileSync(join(source, name));
  const br = brotliCompressSync(file, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: file.length,
    },
  });
  const gz = gzipSync(file, { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(join(outdir, name), file);
  writeFileSync(join(outdir, `${name}.br`), br);
  writeFileSync(join(outdir, `${name}.gz`), gz);
  console.log(
    `  ${join(outdir, name).padEnd(40)} ${kib(file.length)}  ${kib(br.length)} br  ${kib(gz.length)} gzip`,
  );
}
console.log(`docs assets: swagger-ui-dist ${version} in ${outdir}`);
