import { spawnSync } from 'node:child_process';
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  hooksSupported,
  loadDrizzleThroughRequire,
  requireConditions,
  resolveDrizzleAsCommonJs,
} from '../src/entry/drizzle-commonjs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOOK_MODULE = fileURLToPath(new URL('../src/entry/drizzle-commonjs.ts', import.meta.url));

// Issue #21: on Node 22+, drizzle-orm's ES modules cost 0.5 s and a young generation grown to
// 64 MiB at start (its 179 KB package.json read again for each file); its CommonJS build does not.
describe('drizzle-orm through require (src/entry/drizzle-commonjs.ts)', () => {
  it("turns an ES import's conditions into require's, the others kept", () => {
    expect(requireConditions(['node', 'import', 'module-sync', 'node-addons'])).toEqual([
      'node',
      'node-addons',
      'require',
    ]);
    expect(requireConditions([])).toEqual(['require']);
    expect(requireConditions(['require', 'node'])).toEqual(['node', 'require']);
  });

  it('resolves drizzle-orm and its subpaths with them, and nothing else', () => {
    const seen: { specifier: string; conditions?: readonly string[] }[] = [];
    const next = (specifier: string, context?: { conditions?: readonly string[] }) => {
      seen.push({ specifier, conditions: context?.conditions });
      return { url: `file:///${specifier}` };
    };
    const context = { conditions: ['node', 'import'], parentURL: 'file:///app.js' };
    for (const specifier of ['drizzle-orm', 'drizzle-orm/pg-core', 'drizzle-orm/postgres-js'])
      resolveDrizzleAsCommonJs(specifier, context, next);
    for (const specifier of ['drizzle-orm-extra', 'postgres', 'hono', './drizzle-orm.js'])
      resolveDrizzleAsCommonJs(specifier, context, next);
    expect(seen.map((entry) => entry.conditions)).toEqual([
      ['node', 'require'],
      ['node', 'require'],
      ['node', 'require'],
      ['node', 'import'],
      ['node', 'import'],
      ['node', 'import'],
      ['node', 'import'],
    ]);
  });

  const hasHooks =
    typeof (module as unknown as { registerHooks?: unknown }).registerHooks === 'function' &&
    hooksSupported(process.version);

  it('only from Node 24, where module.registerHooks is a release candidate', () => {
    const versions = ['v20.19.0', 'v22.15.0', 'v23.5.0', 'v24.0.0', 'v26.12.1', '', 'x'];
    expect(versions.map(hooksSupported)).toEqual([false, false, false, true, true, false, false]);
    // Never on Node 22, even where the function exists (so nothing is registered here).
    expect(loadDrizzleThroughRequire('v22.15.0')).toBe(false);
  });

  it.skipIf(hasHooks)('does nothing where Node has no module.registerHooks (Node 20)', () => {
    expect(loadDrizzleThroughRequire()).toBe(false);
  });

  // In a child process: a registered hook would stay for the rest of this test worker.
  it.skipIf(!hasHooks)('where Node has it, drizzle-orm resolves to its CommonJS build', () => {
    const script = [
      `const { loadDrizzleThroughRequire } = await import(${JSON.stringify(HOOK_MODULE)});`,
      // Another subpath before the hook: Node caches a resolution per specifier.
      'const before = import.meta.resolve("drizzle-orm/postgres-js");',
      'console.log(JSON.stringify([before, loadDrizzleThroughRequire(), import.meta.resolve("drizzle-orm/pg-core"), import.meta.resolve("hono")]));',
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(child.status, child.stderr).toBe(0);
    const [before, registered, after, other] = JSON.parse(child.stdout) as [string, boolean, string, string];
    expect(before).toMatch(/\.js$/);
    expect(registered).toBe(true);
    expect(after).toMatch(/pg-core\/index\.cjs$/);
    expect(other).toMatch(/\.js$/);
  });
});
