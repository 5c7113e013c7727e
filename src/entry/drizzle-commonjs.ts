/**
 * drizzle-orm loaded through `require`, not as ES modules, where Node lets us choose (issue #21).
 *
 * Node 22 and later read a package's package.json again, from their C++ cache into new
 * JavaScript objects, for every ES module file they resolve in it (nodejs/node#58126).
 * drizzle-orm's package.json is 179 KB (an `exports` map of 447 entries) and the server loads
 * some hundred of its files: on Node 26, importing the server's modules took 897 ms and left
 * 229 MiB resident, V8's young generation grown to 64 MiB by the garbage, against 460 ms and
 * 99 MiB on Node 20 (BENCHMARKS.md). drizzle-orm ships the same code as CommonJS (`.cjs`),
 * which Node's `require` loads without that lookup: 434 ms and 121 MiB on Node 26.
 *
 * So the server entry (node.ts: `npm run serve`, `latchkey serve`, each `--workers` process),
 * the primary's database step (cluster-prepare.ts) and the CLI's runtime commands register, before they import anything that imports drizzle,
 * a resolve hook that resolves `drizzle-orm` and its subpaths with `require`'s conditions:
 * every import of it then gets the one CommonJS copy (never both builds, whose classes would
 * not be the same). Only from Node 24: `module.registerHooks` came in 22.15 and 23.5 as "active
 * development" and is a release candidate on 24 and 26, which CI runs; Node 22 keeps the slow
 * lookup rather than an untested hook. On Node 20, without the slow lookup, nothing changes.
 */
import module from 'node:module';
import { nodeMajor } from './node-version.js';

const DRIZZLE = /^drizzle-orm(?:\/|$)/;

interface ResolveContext {
  conditions?: readonly string[];
  [key: string]: unknown;
}
type NextResolve = (specifier: string, context?: ResolveContext) => unknown;

/** An ES import's conditions turned into `require`'s: `import` and `module-sync` out, `require` in. */
export function requireConditions(conditions: readonly string[]): string[] {
  return [
    ...conditions.filter((name) => name !== 'import' && name !== 'module-sync' && name !== 'require'),
    'require',
  ];
}

/** The resolve hook: drizzle-orm's specifiers with `require`'s conditions, any other unchanged. */
export function resolveDrizzleAsCommonJs(
  specifier: string,
  context: ResolveContext,
  next: NextResolve,
): unknown {
  if (!DRIZZLE.test(specifier)) return next(specifier, context);
  return next(specifier, { ...context, conditions: requireConditions(context.conditions ?? []) });
}

/** Node 24 or later, where `module.registerHooks` is a release candidate. */
export const hooksSupported = (version: string): boolean => nodeMajor(version) >= 24;

/** Registers the hook on Node 24 and later; whether it did. */
export function loadDrizzleThroughRequire(version = process.version): boolean {
  const { registerHooks } = module as unknown as {
    registerHooks?: (hooks: { resolve: typeof resolveDrizzleAsCommonJs }) => unknown;
  };
  if (typeof registerHooks !== 'function' || !hooksSupported(version)) return false;
  registerHooks({ resolve: resolveDrizzleAsCommonJs });
  return true;
}
