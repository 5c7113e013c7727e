import { Hono } from 'hono';
import { openApiDocument } from '../openapi.js';

/** Where the API reference's script comes from: the installed package (Node), or a pinned CDN copy. */
export interface ApiReferenceAssets {
  /** The Scalar standalone bundle, served at /docs/scalar.js. */
  script?: () => Promise<Uint8Array<ArrayBuffer>>;
}

const SCALAR_VERSION = '1.72.1';
const SCALAR_CDN = `https://cdn.jsdelivr.net/npm/@scalar/api-reference@${SCALAR_VERSION}/dist/browser/standalone.js`;

/** `/openapi.json` (OpenAPI 3.1) and `/docs`, an interactive reference (Scalar) over it. */
export function docsRoutes(options: { issuer: string; version: string; assets: ApiReferenceAssets }) {
  const app = new Hono();
  const document = openApiDocument({ issuer: options.issuer, version: options.version });
  let script: Promise<Uint8Array<ArrayBuffer>> | undefined;

  app.get('/openapi.json', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    c.header('Access-Control-Allow-Origin', '*');
    return c.json(document);
  });

  app.get('/docs', (c) => {
    const src = options.assets.script ? '/docs/scalar.js' : SCALAR_CDN;
    // The page is ours; the reference itself is Scalar's script reading /openapi.json.
    return c.html(`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Latchkey API reference</title>
  </head>
  <body>
    <script id="api-reference" data-url="/openapi.json" data-configuration='{"withDefaultFonts":false,"hideClientButton":true}'></script>
    <script src="${src}"></script>
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
