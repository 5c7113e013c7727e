import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiReferenceAssets } from '../../src/entry/node-runtime.js';
import {
  negotiateEncoding,
  SWAGGER_UI_CDN,
  SWAGGER_UI_FILES,
  SWAGGER_UI_VERSION,
} from '../../src/http/routes/docs.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/**
 * /docs under a strict CSP, on both runtimes: Node serves Swagger UI's files itself under the
 * response's nonce, compressed as the client accepts; Workers load them from jsDelivr, pinned
 * by Subresource Integrity. The browser half (the page renders with no CSP violation and
 * nothing leaves the origin) is test/browser/docs.test.ts.
 */

const database = useDatabase();
let selfHosted: Latchkey;
let workers: Latchkey;
beforeAll(async () => {
  selfHosted = await buildLatchkey(database.current, { appDeps: { apiReference: apiReferenceAssets() } });
  workers = await buildLatchkey(database.current); // no assets: the CDN, as src/entry/worker.ts
});

/** swagger-ui-dist's folder (from source, /docs reads it from there: there is no dist/docs-assets/). */
const packageDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const installed = (name: string) => readFile(join(packageDir, name));
const sha384 = (bytes: Uint8Array) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

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
  const links = [...html.matchAll(/<link\b([^>]*)>/g)].map((match) => match[1]!);
  return { res, html, policy, nonce: nonce!, scripts, links };
}

/** The page's URL of one asset (self-hosted), with its ?v= tag. */
async function assetUrl(name: string, lk = selfHosted) {
  const { html } = await docsPage(lk);
  const url = new RegExp(`"(/docs/${name.replace('.', '\\.')}\\?v=[0-9a-f]+)"`).exec(html)?.[1];
  expect(url, name).toBeTruthy();
  return url!;
}

describe('/docs: the Content-Security-Policy', () => {
  it('self-hosted: scripts and styles only with this response nonce; nothing else loads, frames or posts', async () => {
    const { res, html, policy, nonce, scripts, links } = await docsPage(selfHosted);
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
    // Every script and stylesheet carries the nonce; Swagger UI's files are ours, from this origin.
    expect(scripts).toHaveLength(2);
    for (const attributes of [...scripts, ...links]) expect(attributes).toContain(`nonce="${nonce}"`);
    expect(scripts[0]).toMatch(/ src="\/docs\/swagger-ui-bundle\.js\?v=[0-9a-f]{24}"/);
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/ href="\/docs\/swagger-ui\.css\?v=[0-9a-f]{24}"/);
    // No inline handler, no URL leaving the origin.
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\/(?!localhost:3000)/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('Swagger UI starts with nothing that calls out: no validator, no configuration from the URL', async () => {
    const { html } = await docsPage(selfHosted);
    const start = html.slice(html.lastIndexOf('<script'));
    expect(start).toContain("url: '/openapi.json'");
    expect(start).toContain('validatorUrl: null');
    expect(start).toContain('queryConfigEnabled: false');
    expect(start).toContain('requestInterceptor');
  });

  it('a fresh nonce for every response', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i += 1) nonces.add((await docsPage(selfHosted)).nonce);
    expect(nonces.size).toBe(5);
  });

  it('Workers: the pinned CDN URLs, with their SRI hashes and crossorigin=anonymous', async () => {
    const { policy, nonce, scripts, links } = await docsPage(workers);
    const js = SWAGGER_UI_CDN['swagger-ui-bundle.js'];
    const css = SWAGGER_UI_CDN['swagger-ui.css'];
    expect(policy.get('script-src')).toEqual([`'nonce-${nonce}'`, js.url]);
    expect(policy.get('style-src')).toEqual([`'nonce-${nonce}'`, css.url]);
    expect(policy.get('default-src')).toEqual(["'none'"]);
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    const cdn = scripts.filter((attributes) => attributes.includes('cdn.jsdelivr.net'));
    expect(cdn).toEqual([` src="${js.url}" integrity="${js.integrity}" crossorigin="anonymous"`]);
    expect(links).toEqual([
      ` rel="stylesheet" href="${css.url}" integrity="${css.integrity}" crossorigin="anonymous" /`,
    ]);
    // A URL without a trailing slash matches that exact path only (CSP3 §6.7.2.12, path-part).
    for (const { url } of [js, css]) expect(url.endsWith('/')).toBe(false);
  });

  it('Workers serve no asset route (the CDN has them)', async () => {
    for (const name of SWAGGER_UI_FILES)
      expect((await workers.app.request(`/docs/${name}`)).status).toBe(404);
  });
});

describe('/docs: the pinned Swagger UI', () => {
  it('each SRI hash is the sha384 of the installed file its CDN URL names (a version bump cannot leave it stale)', async () => {
    // jsDelivr's /npm/<name>@<version>/<path> is <path> inside the npm tarball, byte for byte.
    const prefix = `https://cdn.jsdelivr.net/npm/swagger-ui-dist@${SWAGGER_UI_VERSION}/`;
    for (const name of SWAGGER_UI_FILES) {
      const { url, integrity } = SWAGGER_UI_CDN[name];
      expect(url).toBe(`${prefix}${name}`);
      expect(integrity, name).toBe(sha384(await installed(name)));
    }
  });

  it('the CDN version is the one installed and the one package.json pins exactly, as a devDependency', async () => {
    const version = JSON.parse((await installed('package.json')).toString('utf8')).version;
    const ours = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(version).toBe(SWAGGER_UI_VERSION);
    expect(ours.devDependencies['swagger-ui-dist']).toBe(SWAGGER_UI_VERSION);
    // Its dependency runs an analytics script at install: never in a production install.
    expect(ours.dependencies['swagger-ui-dist']).toBeUndefined();
    expect(Object.keys(ours.dependencies).filter((name) => name.startsWith('@scalar/'))).toEqual([]);
  });
});

describe('/docs: Swagger UI served from this server', () => {
  it.each(SWAGGER_UI_FILES)('%s: the same bytes as the CDN file, as identity, br or gzip', async (name) => {
    const url = await assetUrl(name);
    const { integrity } = SWAGGER_UI_CDN[name];
    const decode = { identity: (b: Buffer) => b, br: brotliDecompressSync, gzip: gunzipSync };
    for (const [accept, encoding] of [
      [undefined, 'identity'],
      ['gzip, deflate', 'gzip'],
      ['gzip, deflate, br, zstd', 'br'],
      ['br;q=0', 'identity'],
    ] as const) {
      const res = await selfHosted.app.request(url, { headers: accept ? { 'Accept-Encoding': accept } : {} });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding') ?? 'identity', String(accept)).toBe(encoding);
      expect(res.headers.get('vary')).toContain('Accept-Encoding');
      expect(res.headers.get('content-type')).toBe(
        name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const body = Buffer.from(await res.arrayBuffer());
      if (encoding !== 'identity') expect(body.length).toBeLessThan((await installed(name)).length / 3);
      expect(sha384(decode[encoding](body))).toBe(integrity);
    }
  });

  it('an ETag per encoding; If-None-Match answers 304; a URL without the current tag must revalidate', async () => {
    const url = await assetUrl('swagger-ui-bundle.js');
    const br = await selfHosted.app.request(url, { headers: { 'Accept-Encoding': 'br' } });
    const gzip = await selfHosted.app.request(url, { headers: { 'Accept-Encoding': 'gzip' } });
    const etag = br.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{24}-br"$/);
    expect(gzip.headers.get('etag')).toBe(etag.replace('-br', '-gzip'));
    expect(etag).toContain(url.slice(url.indexOf('v=') + 2));

    const again = await selfHosted.app.request(url, {
      headers: { 'Accept-Encoding': 'br', 'If-None-Match': `"other", ${etag}` },
    });
    expect(again.status).toBe(304);
    expect(await again.arrayBuffer()).toHaveProperty('byteLength', 0);
    // A validator of another encoding is not this representation.
    const other = await selfHosted.app.request(url, {
      headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': etag },
    });
    expect(other.status).toBe(200);

    const untagged = await selfHosted.app.request('/docs/swagger-ui-bundle.js?v=old');
    expect(untagged.status).toBe(200);
    expect(untagged.headers.get('cache-control')).toBe('public, no-cache');
  });

  it('Accept-Encoding: q-values win; on a tie br, then gzip, then identity; anything unknown is identity', () => {
    expect(negotiateEncoding(undefined)).toBe('identity');
    expect(negotiateEncoding('')).toBe('identity');
    expect(negotiateEncoding('gzip, br')).toBe('br');
    expect(negotiateEncoding('br;q=0.5, gzip')).toBe('gzip');
    expect(negotiateEncoding('GZIP;Q=0.8, identity;q=0.9')).toBe('identity');
    expect(negotiateEncoding('*')).toBe('br');
    expect(negotiateEncoding('*;q=0, gzip')).toBe('gzip');
    expect(negotiateEncoding('zstd, deflate, compress')).toBe('identity');
    expect(negotiateEncoding('br;q=abc, gzip;q=2')).toBe('identity');
    expect(negotiateEncoding(`${'x, '.repeat(10_000)}br`)).toBe('identity'); // bounded: read no further
  });
});

describe('/docs: the build step (scripts/docs-assets.mjs, in npm run build)', () => {
  it('writes both files, their licences and .br/.gz copies; the server sends those bytes as they are', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-docs-assets-'));
    try {
      const script = fileURLToPath(new URL('../../scripts/docs-assets.mjs', import.meta.url));
      await promisify(execFile)(process.execPath, [script, dir]);
      expect((await readdir(dir)).sort()).toEqual(
        [
          'LICENSE',
          'NOTICE',
          'swagger-ui-bundle.js.LICENSE.txt',
          ...SWAGGER_UI_FILES.flatMap((name) => [name, `${name}.br`, `${name}.gz`]),
        ].sort(),
      );
      expect(await readFile(join(dir, 'LICENSE'))).toEqual(await installed('LICENSE'));
      const built = await buildLatchkey(database.current, {
        appDeps: { apiReference: apiReferenceAssets(dir) },
      });
      for (const name of SWAGGER_UI_FILES) {
        const url = await assetUrl(name, built);
        for (const [encoding, suffix, decode] of [
          ['br', '.br', brotliDecompressSync],
          ['gzip', '.gz', gunzipSync],
        ] as const) {
          const res = await built.app.request(url, { headers: { 'Accept-Encoding': encoding } });
          expect(res.headers.get('content-encoding')).toBe(encoding);
          const body = Buffer.from(await res.arrayBuffer());
          expect(body.equals(await readFile(join(dir, `${name}${suffix}`))), `${name}${suffix}`).toBe(true);
          expect(sha384(decode(body))).toBe(SWAGGER_UI_CDN[name].integrity);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
