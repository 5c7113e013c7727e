import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

/**
 * The SPA's own site: three static files, and `/v1/*` passed through to Latchkey. Through
 * the proxy the page and Latchkey's API share one origin, so Latchkey's refresh cookie
 * (`__Secure-latchkey_refresh`, HttpOnly, SameSite=Strict, Path=/v1/auth) is a first-party
 * cookie of this site: no third-party cookie, no CORS. Latchkey still checks the `Origin` of
 * a cookie refresh or logout: list this site in its ALLOWED_ORIGINS.
 */
export interface SiteOptions {
  /** Where Latchkey listens, e.g. http://127.0.0.1:3000 (its /v1/* is proxied). */
  latchkeyUrl: string;
  /** The folder with index.html and style.css. */
  pageDir: string;
  /** The bundle esbuild made of page/main.ts. */
  bundlePath: string;
  /** Largest request body passed on, bytes (default 64 KiB, Latchkey's own limit). */
  maxBodyBytes?: number;
  /** How long Latchkey may take to answer, ms (default 15 s). */
  timeoutMs?: number;
}

// Only 'self': the page runs no inline script and talks to no other origin.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const PAGE_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};
/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded, in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const json = (response: ServerResponse, status: number, error: string, description: string) => {
  if (response.writableEnded) return; // already answered (a 413 while the body streamed)
  if (response.headersSent) {
    response.destroy(); // Latchkey failed mid-answer: cut it rather than send half a body
    return;
  }
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  response.end(JSON.stringify({ error, error_description: description }));
};

export function createSite(options: SiteOptions) {
  const latchkey = new URL(options.latchkeyUrl);
  if (latchkey.protocol !== 'http:' && latchkey.protocol !== 'https:')
    throw new TypeError(`LATCHKEY_URL must be http(s)://, not ${options.latchkeyUrl}`);
  const base = latchkey.origin;
  const maxBody = options.maxBodyBytes ?? 64 * 1024;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const files: Record<string, { path: string; type: string }> = {
    '/': { path: join(options.pageDir, 'index.html'), type: 'text/html; charset=utf-8' },
    '/style.css': { path: join(options.pageDir, 'style.css'), type: 'text/css; charset=utf-8' },
    '/main.js': { path: options.bundlePath, type: 'text/javascript; charset=utf-8' },
  };

  function proxy(request: IncomingMessage, response: ServerResponse): void {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (!(declared <= maxBody)) {
      json(response, 413, 'payload_too_large', 'The request body is too large');
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    // Latchkey sees the browser's address if it trusts this header (TRUSTED_IP_HEADER=x-forwarded-for):
    // it takes the right-most entry, the one added here.
    const forwarded = request.headers['x-forwarded-for'];
    const address = request.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = forwarded ? `${forwarded}, ${address}` : address;

    const send = latchkey.protocol === 'https:' ? httpsRequest : httpRequest;
    // request.url starts with /v1/: the target cannot leave Latchkey's origin.
    const upstream = send(`${base}${request.url}`, { method: request.method, headers, timeout: timeoutMs });
    upstream.on('response', (answer) => {
      const back: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) back[name] = value;
      }
      response.writeHead(answer.statusCode ?? 502, back);
      answer.pipe(response);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
    upstream.on('error', (error) =>
      json(response, error.message === 'timeout' ? 504 : 502, 'bad_gateway', 'Latchkey could not be reached'),
    );
    // A body without Content-Length (chunked) is counted as it streams.
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBody) {
        upstream.destroy();
        request.unpipe(upstream);
        json(response, 413, 'payload_too_large', 'The request body is too large');
      }
    });
    request.pipe(upstream);
  }

  return createServer(async (request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    if (path.startsWith('/v1/')) return proxy(request, response);
    if (path === '/health') {
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      response.end(JSON.stringify({ status: 'ok' }));
      return;
    }
    const file = files[path];
    if (!file || (request.method !== 'GET' && request.method !== 'HEAD'))
      return json(response, 404, 'not_found', 'No such page');
    try {
      const body = await readFile(file.path);
      response.writeHead(200, { ...PAGE_HEADERS, 'content-type': file.type, 'content-length': body.length });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch {
      json(response, 500, 'server_error', `${path} is missing (was the page built? npm run build)`);
    }
  });
}
