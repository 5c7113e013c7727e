import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * @latchkey/client as it is published: built from src/client by its own tsconfig into a
 * fresh folder, its files are the client's only, import nothing outside the package (not
 * even types), and the bundle stays within its budget.
 */
const ROOT = resolve(import.meta.dirname, '..');
const BUDGET_BYTES = 5 * 1024;
let out: string;
let files: string[];

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'latchkey-client-dist-'));
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'packages/client/tsconfig.json'),
      '--outDir',
      out,
    ],
    { stdio: 'inherit' },
  );
  files = readdirSync(out, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(out, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}, 60_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('@latchkey/client: the built package', () => {
  it('holds the client only, where package.json exports it', () => {
    expect(files).toEqual([
      'client/dpop.d.ts',
      'client/dpop.js',
      'client/index.d.ts',
      'client/index.js',
      'client/types.d.ts',
      'client/types.js',
    ]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/client/package.json'), 'utf8'));
    expect(pkg.exports['.']).toEqual({
      types: './dist/client/index.d.ts',
      default: './dist/client/index.js',
    });
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.peerDependencies ?? {}).toEqual({});
  });

  it('no .js or .d.ts imports anything outside the package: no package, no server file, no type reference', () => {
    const outside: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(out, file), 'utf8');
      const info = ts.preProcessFile(text, true, true);
      for (const ref of [...info.typeReferenceDirectives, ...info.libReferenceDirectives])
        outside.push(`${file}: /// <reference ${ref.fileName}>`);
      for (const { fileName } of [...info.importedFiles, ...info.referencedFiles]) {
        const target = resolve(dirname(join(out, file)), fileName);
        const inside = fileName.startsWith('.') && files.includes(relative(out, target).split(sep).join('/'));
        if (!inside) outside.push(`${file}: ${fileName}`);
      }
      expect(text).not.toContain('zod');
    }
    expect(outside).toEqual([]);
  });

  it(`bundles to at most ${BUDGET_BYTES} bytes, minified and gzipped`, async () => {
    const bundle = await build({
      entryPoints: [join(out, 'client/index.js')],
      bundle: true,
      minify: true,
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const gzipped = gzipSync(bundle.outputFiles[0]!.contents, { level: 9 }).length;
    // Nothing but the client went in (a dependency would show here).
    const inputs = Object.keys(bundle.metafile.inputs).map((input) => relative(out, resolve(input)));
    expect(
      inputs.every((input) => input.startsWith('client')),
      inputs.join(', '),
    ).toBe(true);
    expect(gzipped).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});
