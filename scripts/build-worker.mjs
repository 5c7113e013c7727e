#!/usr/bin/env node
// `npm run build:worker`: the Workers bundle (wrangler deploy --dry-run) in dist/worker, its
// size printed, and a failure when it is over the budget: 1 MiB gzipped (Workers Free
// allows 3 MiB compressed, Paid 10 MiB; we stay far below to keep cold starts short).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 1024 * 1024;
const outdir = 'dist/worker';
rmSync(outdir, { recursive: true, force: true });
const result = spawnSync(
  process.execPath,
  ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', outdir],
  {
    stdio: 'inherit',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  },
);
if (result.status !== 0) process.exit(result.status ?? 1);

const files = readdirSync(outdir, { recursive: true })
  .map((name) => join(outdir, String(name)))
  .filter((file) => statSync(file).isFile() && !file.endsWith('.map') && !file.endsWith('README.md'));
let raw = 0;
let gzipped = 0;
for (const file of files) {
  const content = readFileSync(file);
  const size = gzipSync(content, { level: 9 }).length;
  raw += content.length;
  gzipped += size;
  console.log(
    `  ${file.padEnd(60)} ${(content.length / 1024).toFixed(1).padStart(8)} KiB  ${(size / 1024).toFixed(1).padStart(7)} KiB gzipped`,
  );
}
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`worker bundle: ${kib(raw)}, ${kib(gzipped)} gzipped (budget ${kib(BUDGET)} gzipped)`);
if (gzipped > BUDGET) {
  console.error('the worker bundle is over its size budget');
  process.exit(1);
}
