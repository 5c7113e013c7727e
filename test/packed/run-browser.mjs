#!/usr/bin/env node
// `node test/packed/run-browser.mjs <consumer dir> <latchkey url> <page port>`: the client in
// Chromium. esbuild (the repo's) bundles <consumer dir>/browser.ts, resolving @latchkey/client
// from the consumer's node_modules (the installed tarball); a tiny node:http server on
// http://localhost:<page port> serves a page with the bundle and proxies /v1/* to Latchkey, so
// the refresh cookie is first-party (Latchkey's ALLOWED_ORIGINS must name the page's origin:
// cookie refreshes are checked against it). playwright-core drives /usr/bin/chromium: log in
// with cookie delivery, me(), and the refresh token never visible to the page.
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { check, newAccount } from './account.mjs';

const [consumer, base, pagePort] = process.argv.slice(2);
if (!consumer || !base || !pagePort)
  throw new Error('usage: run-browser.mjs <consumer dir> <latchkey url> <page port>');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const bundle = await build({
  entryPoints: [resolve(consumer, 'browser.ts')],
  absWorkingDir: resolve(consumer),
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'warning',
});
const script = bundle.outputFiles[0].contents;
const html =
  '<!doctype html><html><head><meta charset="utf-8"><title>packed client</title>' +
  '<script type="module" src="/app.js"></script></head><body>packed client</body></html>';

/** The page, its script, and /v1/* passed on to Latchkey (headers, cookies and body as they are). */
const server = createServer(async (request, response) => {
  try {
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (request.url === '/app.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    } else if (request.url?.startsWith('/v1/')) {
      const chunks = [];
      for await (const chunk of request) chunks.push(chunk);
      const headers = { ...request.headers };
      delete headers.host;
      delete headers.connection;
      const upstream = await fetch(`${base}${request.url}`, {
        method: request.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
        redirect: 'manual',
      });
      const out = {};
      for (const [name, value] of upstream.headers) if (name !== 'set-cookie') out[name] = value;
      delete out['content-encoding'];
      delete out['content-length'];
      const cookies = upstream.headers.getSetCookie();
      if (cookies.length) out['set-cookie'] = cookies;
      response.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
    } else {
      response.writeHead(404).end();
    }
  } catch (error) {
    response.writeHead(502, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: 'proxy_failed', error_description: String(error) }));
  }
});
await new Promise((done) => server.listen(Number(pagePort), '127.0.0.1', done));

let browser;
try {
  const { email, password, user } = await newAccount(base, 'chromium');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`http://localhost:${pagePort}/`);
  await page.waitForFunction(() => typeof window.packedProof === 'function');
  const result = await page.evaluate(([e, p]) => window.packedProof(e, p), [email, password]);
  check(result.id === user.id && result.email === email, `me() in Chromium: ${JSON.stringify(result)}`);
  check(result.refreshed, 'no new access token from a cookie refresh');
  check(!result.refreshTokenInBody, 'cookie delivery returned the refresh token in the body');
  check(!result.cookieVisible, 'the refresh cookie is visible to the page');
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
  console.log(
    `chromium ${browser.version()}: the bundled client (${script.length} bytes) logged in and called me()`,
  );
} finally {
  await browser?.close();
  await new Promise((done) => server.close(done));
}
