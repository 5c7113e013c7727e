import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Issue #21 (start-up and idle memory): packages that only some requests need are imported on
 * their first use, not when the server starts. Measured on the 2-vCPU bench machine, importing
 * them all cost ~350 ms of every start and ~22 MiB of RSS. This checks, in a plain Node process
 * on the build (dist/, made by the global setup), which packages the server's modules pull in
 * when they are loaded: a resolve hook prints every package resolved.
 */
const root = fileURLToPath(new URL('..', import.meta.url));

/** On first use only: mail, password strength, passkeys, the development log format, the embedded database. */
const LAZY = [
  'nodemailer',
  '@zxcvbn-ts/core',
  '@zxcvbn-ts/language-common',
  '@simplewebauthn/server',
  'pino-pretty',
  '@electric-sql/pglite',
];

/** Prints each package a resolution lands in; `result` is what the next hook resolved. */
const report = `(result) => {
  const match = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url);
  if (match) process.stderr.write('package ' + match[1] + '\\n');
  return result;
}`;

const dataUrl = (source: string) => `data:text/javascript,${encodeURIComponent(source)}`;

/**
 * The resolve hook, in this process before anything else: synchronous (`module.registerHooks`)
 * where Node has it, asynchronous (`module.register`) on Node 20. On Node 26 the asynchronous
 * hook was shown only drizzle-orm of the five packages every start loads (cause not found).
 */
const asyncHook = `const report = ${report};
export async function resolve(specifier, context, next) { return report(await next(specifier, context)); }`;
const preload = `import module from 'node:module';
const report = ${report};
if (typeof module.registerHooks === 'function')
  module.registerHooks({ resolve: (specifier, context, next) => report(next(specifier, context)) });
else module.register(${JSON.stringify(dataUrl(asyncHook))});`;

/** The packages resolved while `modules` (paths under dist/) load, in that order. */
function packagesLoaded(modules: string[]): string[] {
  const probe = spawnSync(
    process.execPath,
    [
      '--import',
      dataUrl(preload),
      '--input-type=module',
      '-e',
      modules.map((module) => `await import('./dist/${module}');`).join(' '),
    ],
    { cwd: root, encoding: 'utf8', timeout: 60_000 },
  );
  expect(probe.status, probe.stderr).toBe(0);
  return [...new Set([...probe.stderr.matchAll(/^package (\S+)$/gm)].map((match) => match[1]!))].sort();
}

describe('what the server imports when it starts', () => {
  it('leaves mail, password strength, passkeys, pino-pretty and PGlite to their first use', () => {
    // The Node entry's own imports once it serves.
    const loaded = packagesLoaded(['entry/node-runtime.js', 'http/app.js']);
    // The probe works: packages every start needs are seen.
    expect(loaded).toEqual(expect.arrayContaining(['hono', 'jose', 'drizzle-orm', 'postgres', 'pino']));
    expect(loaded.filter((name) => LAZY.includes(name))).toEqual([]);
  });

  it('the primary of serve --workers N and latchkey --version load no part of the runtime', () => {
    // What src/entry/node.ts imports before it knows whether this process serves, and what the
    // CLI imports before it knows its command (issue #21: the primary held 104 MiB, 70 now).
    const loaded = packagesLoaded(['entry/node-config.js', 'entry/cluster.js', 'entry/cli/args.js']);
    expect(loaded).toEqual(expect.arrayContaining(['pino', 'prom-client']));
    const runtime = ['hono', '@hono/node-server', 'jose', 'drizzle-orm', 'postgres', 'argon2', 'otplib'];
    expect(loaded.filter((name) => runtime.includes(name))).toEqual([]);
  });
});
