import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiReferenceAssets } from '../../src/entry/node-runtime.js';
import { SCALAR_CDN, SCALAR_INTEGRITY, SCALAR_VERSION } from '../../src/http/routes/docs.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/**
 * /docs under a strict CSP, on both runtimes: Node serves the installed Scalar bundle under
 * the response's nonce; Workers load it from jsDelivr, pinned by Subresource Integrity. The
 * browser half (the page renders with no CSP violation) is test/browser/docs.test.ts.
 */

const database = useDatabase();
let selfHosted: Latchkey;
let workers: Latchkey;
beforeAll(async () => {
  selfHosted = await buildLatchkey(database.current, { appDeps: { apiReference: apiReferenceAssets() } });
  workers = await buildLatchkey(database.current); // no assets: the CDN, as src/entry/worker.ts
});

/** The package's root: its main entry is dist/index.js (the package exports no package.json). */
const packageDir = join(dirname(createRequire(import.meta.url).resolve('@scalar/api-reference')), '..');

function directives(csp: string | null): Map<string, string[]> {
  expect(csp).toBeTruthy();
  return new Map(
    csp!
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

async function docsPage(lk: Latchkey) {
  const res = await lk.app.request('/docs');
  expect(res.status).toBe(200);
  const html = await res.text();
  const policy = directives(res.headers.get('content-security-policy'));
  const nonce = /'nonce-([A-Za-z0-9_-]{22,})'/.exec(policy.get('script-src')?.join(' ') ?? '')?.[1];
  expect(nonce).toBeTruthy();
  const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((match) => match[1]!);
  return { res, html, policy, nonce: nonce!, scripts };
}

describe('/docs: the Content-Security-Policy', () => {
  it('self-hosted: scripts and styles only with this response nonce; nothing else loads, frames or posts', async () => {
    const { res, policy, nonce, scripts } = await docsPage(selfHosted);
    expect(Object.fromEntries(policy)).toEqual({
      'default-src': ["'none'"],
      'script-src': [`'nonce-${nonce}'`],
      'style-src': [`'nonce-${nonce}'`],
      'style-src-attr': ["'unsafe-inline'"],
      'img-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
    });
    // Every script element carries the nonce; the bundle is ours, from this origin.
    expect(scripts.length).toBeGreaterThan(0);
    for (const attributes of scripts) expect(attributes).toContain(`nonce="${nonce}"`);
    expect(scripts.some((attributes) => attributes.includes('src="/docs/scalar.js"'))).toBe(true);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('a fresh nonce for every response', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i += 1) nonces.add((await docsPage(selfHosted)).nonce);
    expect(nonces.size).toBe(5);
  });

  it('Workers: the one pinned CDN URL, with its SRI hash and crossorigin=anonymous', async () => {
    const { policy, nonce, scripts } = await docsPage(workers);
    expect(policy.get('script-src')).toEqual([`'nonce-${nonce}'`, SCALAR_CDN]);
    expect(policy.get('default-src')).toEqual(["'none'"]);
    const cdn = scripts.filter((attributes) => attributes.includes('cdn.jsdelivr.net'));
    expect(cdn).toEqual([` src="${SCALAR_CDN}" integrity="${SCALAR_INTEGRITY}" crossorigin="anonymous"`]);
    // A URL without a trailing slash matches that exact path only (CSP3 §6.7.2.12, path-part).
    expect(SCALAR_CDN.endsWith('/')).toBe(false);
  });
});

describe('/docs: the pinned Scalar bundle', () => {
  it('the SRI hash is the sha384 of the installed file the CDN URL names (a version bump cannot leave it stale)', async () => {
    // jsDelivr's /npm/<name>@<version>/<path> is <path> inside the npm tarball, byte for byte.
    const prefix = `https://cdn.jsdelivr.net/npm/@scalar/api-reference@${SCALAR_VERSION}/`;
    expect(SCALAR_CDN.startsWith(prefix)).toBe(true);
    const file = await readFile(join(packageDir, SCALAR_CDN.slice(prefix.length)));
    const digest = createHash('sha384').update(file).digest('base64');
    expect(SCALAR_INTEGRITY).toBe(`sha384-${digest}`);
  });

  it('the CDN version is the one installed and the one package.json pins exactly', async () => {
    const installed = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
      version: string;
    };
    const ours = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(installed.version).toBe(SCALAR_VERSION);
    expect(ours.dependencies['@scalar/api-reference']).toBe(SCALAR_VERSION);
  });

  it('Node serves the same bytes at /docs/scalar.js', async () => {
    const res = await selfHosted.app.request('/docs/scalar.js');
    expect(res.status).toBe(200);
    const digest = createHash('sha384')
      .update(new Uint8Array(await res.arrayBuffer()))
      .digest('base64');
    expect(`sha384-${digest}`).toBe(SCALAR_INTEGRITY);
  });
});
