import { Hono } from 'hono';
import { randomToken } from '../../lib/crypto.js';
import { openApiDocument } from '../openapi.js';
import type { Operation } from '../route-table.js';

/** Where the API reference's script comes from: the installed package (Node), or a pinned CDN copy. */
export interface ApiReferenceAssets {
  /** The Scalar standalone bundle, served at /docs/scalar.js. */
  script?: () => Promise<Uint8Array<ArrayBuffer>>;
}

/** The version package.json pins exactly (test/http/docs-csp.test.ts holds the two together). */
export const SCALAR_VERSION = '1.72.1';
/** jsDelivr serves a package's file byte for byte as npm published it, so SRI can pin it. */
export const SCALAR_CDN = `https://cdn.jsdelivr.net/npm/@scalar/api-reference@${SCALAR_VERSION}/dist/browser/standalone.js`;
/**
 * W3C Subresource Integrity of that exact file: a CDN that serves anything else runs nothing
 * here. Computed from the npm tarball's `dist/browser/standalone.js` (the installed copy is
 * the same bytes); test/http/docs-csp.test.ts recomputes it, so a version bump cannot leave
 * it stale.
 */
export const SCALAR_INTEGRITY = 'sha384-U11tb2XnKvmwt8RlTvnwUnYgrN+ur4Xyh9htLhjajWNR/Oyl5AX5DEz00qRmlrmK';

/**
 * Run before Scalar, with the page's nonce. (1) zod, inside Scalar, probes `Function('')` to
 * pick a faster path; without 'unsafe-eval' the probe is only a CSP violation, and jitless
 * skips it. (2) Scalar adds `<style>` elements from script, some without the nonce; every
 * style element made by script gets it, while styles in markup (an injection) stay blocked.
 */
const PREPARE = `{
  globalThis.__zod_globalConfig = { jitless: true };
  const nonce = document.currentScript.nonce;
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (name, options) {
    const element = createElement.call(this, name, options);
    if (element instanceof HTMLStyleElement) element.nonce = nonce;
    return element;
  };
}`;

/**
 * The CSP of /docs (OWASP CSP Cheat Sheet, strict CSP): the page shares its origin with the
 * account pages, so no script runs but ours and Scalar's — on Node with this response's
 * nonce, on Workers from the one pinned CDN URL (and its SRI). Styles need the nonce too,
 * except `style` attributes, which Scalar's components set everywhere and which can neither
 * run code nor load anything `img-src` refuses. Nothing may frame it, post from it or load
 * from elsewhere; the reference reads /openapi.json from here.
 */
function contentSecurityPolicy(nonce: string, scriptSource: string): string {
  return [
    "default-src 'none'",
    `script-src ${scriptSource}`,
    `style-src 'nonce-${nonce}'`,
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * `/openapi.json` (OpenAPI 3.1) and `/docs`, an interactive reference (Scalar) over it. The
 * document is generated from the route declarations, once, when first asked for: `operations`
 * is a function so the app may mount these routes before it has built the others.
 */
export function docsRoutes(options: {
  issuer: string;
  version: string;
  assets: ApiReferenceAssets;
  operations: () => readonly Operation[];
}) {
  const app = new Hono();
  let document: ReturnType<typeof openApiDocument> | undefined;
  let script: Promise<Uint8Array<ArrayBuffer>> | undefined;
  const selfHosted = options.assets.script !== undefined;

  app.get('/openapi.json', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    c.header('Access-Control-Allow-Origin', '*');
    document ??= openApiDocument({
      issuer: options.issuer,
      version: options.version,
      operations: options.operations(),
    });
    return c.json(document);
  });

  app.get('/docs', (c) => {
    const nonce = randomToken(16);
    const scalar = selfHosted
      ? `<script nonce="${nonce}" src="/docs/scalar.js"></script>`
      : `<script src="${SCALAR_CDN}" integrity="${SCALAR_INTEGRITY}" crossorigin="anonymous"></script>`;
    c.header(
      'Content-Security-Policy',
      contentSecurityPolicy(nonce, selfHosted ? `'nonce-${nonce}'` : `'nonce-${nonce}' ${SCALAR_CDN}`),
    );
    // A nonce is good for one response: no cache may hand this page out again.
    c.header('Cache-Control', 'no-store');
    // The page is ours; the reference itself is Scalar's script reading /openapi.json.
    // Scalar gives its own style element the nonce of the csp-nonce meta tag.
    return c.html(`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta property="csp-nonce" content="${nonce}" />
    <title>Latchkey API reference</title>
  </head>
  <body>
    <script id="api-reference" nonce="${nonce}" data-url="/openapi.json" data-configuration='{"withDefaultFonts":false,"hideClientButton":true}'></script>
    <script nonce="${nonce}">${PREPARE}</script>
    ${scalar}
  </body>
</html>`);
  });

  if (options.assets.script) {
    const load = options.assets.script;
    app.get('/docs/scalar.js', async (c) => {
      script ??= load();
      c.header('Content-Type', 'text/javascript; charset=utf-8');
      c.header('Cache-Control', 'public, max-age=86400');
      return c.body(await script);
    });
  }
  return app;
}
