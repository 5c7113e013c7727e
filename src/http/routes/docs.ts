import { Hono } from 'hono';
import { randomToken } from '../../lib/crypto.js';
import { openApiDocument } from '../openapi.js';
import type { Operation } from '../route-table.js';

/** The two files of Swagger UI that /docs loads (from swagger-ui-dist, as npm publishes them). */
export const SWAGGER_UI_FILES = ['swagger-ui-bundle.js', 'swagger-ui.css'] as const;
export type SwaggerUiFile = (typeof SWAGGER_UI_FILES)[number];

/** One file, as published and precompressed (scripts/docs-assets.mjs, or in memory from source). */
export interface DocsAsset {
  identity: Uint8Array<ArrayBuffer>;
  br: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer>;
}

/** Where the API reference's files come from: this server (Node), or a pinned CDN copy (Workers). */
export interface ApiReferenceAssets {
  /** Swagger UI's script and stylesheet, served at /docs/swagger-ui-bundle.js and /docs/swagger-ui.css. */
  load?: () => Promise<Record<SwaggerUiFile, DocsAsset>>;
}

/** The version package.json pins exactly (test/http/docs-csp.test.ts holds the two together). */
export const SWAGGER_UI_VERSION = '5.35.0';
/** jsDelivr serves a package's file byte for byte as npm published it, so SRI can pin it. */
const CDN = `https://cdn.jsdelivr.net/npm/swagger-ui-dist@${SWAGGER_UI_VERSION}/`;
/**
 * Each file's URL on the CDN and its W3C Subresource Integrity: a CDN that serves anything
 * else runs (or styles) nothing here. Computed from the npm tarball's files (the installed
 * copies are the same bytes); test/http/docs-csp.test.ts recomputes them, so a version bump
 * cannot leave them stale.
 */
export const SWAGGER_UI_CDN: Record<SwaggerUiFile, { url: string; integrity: string }> = {
  'swagger-ui-bundle.js': {
    url: `${CDN}swagger-ui-bundle.js`,
    integrity: 'sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9',
  },
  'swagger-ui.css': {
    url: `${CDN}swagger-ui.css`,
    integrity: 'sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I',
  },
};

/**
 * Swagger UI, started by a nonce'd script (no inline handler). Nothing calls out: no
 * validator badge (Swagger UI asks validator.swagger.io by default), no `?url=`/`?configUrl=`
 * from the query string, and "Try it out" sends only to this origin: a request for the
 * document's server (the issuer, which a proxy may present under another origin) goes to the
 * origin the page came from, and any other is refused before it is sent (connect-src 'self'
 * would block it anyway).
 */
const start = (issuer: string) => `{
  const issuer = new URL(${JSON.stringify(issuer).replaceAll('<', '\\u003c')}).origin;
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    validatorUrl: null,
    queryConfigEnabled: false,
    deepLinking: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    requestInterceptor: (request) => {
      const url = new URL(request.url, location.href);
      if (url.origin === issuer) url.protocol = location.protocol, url.host = location.host;
      if (url.origin !== location.origin) throw new Error('Try it out calls this server only: ' + url.origin);
      request.url = url.href;
      return request;
    },
  });
}`;

/**
 * The CSP of /docs (OWASP CSP Cheat Sheet, strict CSP): the page shares its origin with the
 * account pages, so no script runs but ours and Swagger UI's — on Node with this response's
 * nonce, on Workers from the one pinned CDN URL (and its SRI). The stylesheet needs the nonce
 * (or is the pinned CDN one) too, except `style` attributes, which Swagger UI's components set
 * and which can neither run code nor load anything `img-src` refuses. No 'unsafe-eval'.
 * Nothing may frame it, post from it or load from elsewhere; the reference reads
 * /openapi.json from here.
 */
function contentSecurityPolicy(nonce: string, selfHosted: boolean): string {
  const cdn = (file: SwaggerUiFile) => (selfHosted ? '' : ` ${SWAGGER_UI_CDN[file].url}`);
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'${cdn('swagger-ui-bundle.js')}`,
    `style-src 'nonce-${nonce}'${cdn('swagger-ui.css')}`,
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

type Encoding = keyof DocsAsset;

/**
 * The encoding to send (RFC 9110 §12.5.3): the highest q-value of Accept-Encoding among br,
 * gzip and identity (acceptable unless refused), ties going to the smaller file. A missing
 * header means identity.
 */
export function negotiateEncoding(header: string | undefined): Encoding {
  if (!header) return 'identity';
  const weights = new Map<string, number>();
  for (const part of header.slice(0, 512).split(',').slice(0, 16)) {
    const [name = '', ...parameters] = part.split(';').map((piece) => piece.trim().toLowerCase());
    if (!name) continue;
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name, Number.isFinite(weight) && weight >= 0 && weight <= 1 ? weight : 0);
  }
  const weight = (name: string) => weights.get(name) ?? weights.get('*') ?? (name === 'identity' ? 1 : 0);
  let best: Encoding = 'identity';
  for (const name of ['gzip', 'br'] as const)
    if (weight(name) > 0 && weight(name) >= weight(best)) best = name;
  return best;
}

const CONTENT_TYPE: Record<SwaggerUiFile, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
};

/** The assets loaded once, each with the tag of its bytes (the `?v=` of its URL, and its ETag). */
type Loaded = Record<SwaggerUiFile, DocsAsset & { tag: string }>;

async function tagged(files: Record<SwaggerUiFile, DocsAsset>): Promise<Loaded> {
  const entries = await Promise.all(
    SWAGGER_UI_FILES.map(async (name) => {
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', files[name].identity));
      const tag = [...digest.subarray(0, 12)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
      return [name, { ...files[name], tag }] as const;
    }),
  );
  return Object.fromEntries(entries) as Loaded;
}

/**
 * `/openapi.json` (OpenAPI 3.1) and `/docs`, an interactive reference (Swagger UI) over it.
 * The document is generated from the route declarations, once, when first asked for:
 * `operations` is a function so the app may mount these routes before it has built the others.
 */
export function docsRoutes(options: {
  issuer: string;
  version: string;
  assets: ApiReferenceAssets;
  operations: () => readonly Operation[];
}) {
  const app = new Hono();
  let document: ReturnType<typeof openApiDocument> | undefined;
  const load = options.assets.load;
  let loaded: Promise<Loaded> | undefined;
  /** Loaded once; a failure (no assets installed) is not kept: the next request tries again. */
  const assets = (from: () => Promise<Record<SwaggerUiFile, DocsAsset>>) => {
    loaded ??= from()
      .then(tagged)
      .catch((error: unknown) => {
        loaded = undefined;
        throw error;
      });
    return loaded;
  };

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

  app.get('/docs', async (c) => {
    const nonce = randomToken(16);
    let script: string;
    let stylesheet: string;
    if (load) {
      const files = await assets(load);
      const url = (name: SwaggerUiFile) => `/docs/${name}?v=${files[name].tag}`;
      script = `<script nonce="${nonce}" src="${url('swagger-ui-bundle.js')}"></script>`;
      stylesheet = `<link rel="stylesheet" nonce="${nonce}" href="${url('swagger-ui.css')}" />`;
    } else {
      const { url: js, integrity: jsIntegrity } = SWAGGER_UI_CDN['swagger-ui-bundle.js'];
      const { url: css, integrity: cssIntegrity } = SWAGGER_UI_CDN['swagger-ui.css'];
      script = `<script src="${js}" integrity="${jsIntegrity}" crossorigin="anonymous"></script>`;
      stylesheet = `<link rel="stylesheet" href="${css}" integrity="${cssIntegrity}" crossorigin="anonymous" />`;
    }
    c.header('Content-Security-Policy', contentSecurityPolicy(nonce, load !== undefined));
    // A nonce is good for one response: no cache may hand this page out again.
    c.header('Cache-Control', 'no-store');
    // The page is ours; the reference itself is Swagger UI's script reading /openapi.json.
    return c.html(`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Latchkey API reference</title>
    ${stylesheet}
  </head>
  <body>
    <div id="swagger-ui"></div>
    ${script}
    <script nonce="${nonce}">${start(options.issuer)}</script>
  </body>
</html>`);
  });

  if (load) {
    for (const name of SWAGGER_UI_FILES) {
      app.get(`/docs/${name}`, async (c) => {
        const file = (await assets(load))[name];
        const encoding = negotiateEncoding(c.req.header('Accept-Encoding'));
        const etag = `"${file.tag}${encoding === 'identity' ? '' : `-${encoding}`}"`;
        c.header('Content-Type', CONTENT_TYPE[name]);
        c.header('Vary', 'Accept-Encoding');
        c.header('ETag', etag);
        // The page asks for ?v=<tag of these bytes>: that URL never changes meaning. Any other
        // URL (an old tag, none) may be stored but is checked again (ETag) before each use.
        const current = new URL(c.req.url).search === `?v=${file.tag}`;
        c.header('Cache-Control', current ? 'public, max-age=31536000, immutable' : 'public, no-cache');
        const match = c.req.header('If-None-Match');
        if (
          match
            ?.slice(0, 1024)
            .split(',')
            .some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*')
        )
          return c.body(null, 304);
        if (encoding !== 'identity') c.header('Content-Encoding', encoding);
        return c.body(file[encoding]);
      });
    }
  }
  return app;
}
