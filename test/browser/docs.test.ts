import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiReferenceAssets } from '../../src/entry/node-runtime.js';
import { SWAGGER_UI_CDN, SWAGGER_UI_FILES, type SwaggerUiFile } from '../../src/http/routes/docs.js';
import { hasChromium, type LocalServer, launchChromium, listenLocally } from '../support/browser.js';
import { buildLatchkey, useDatabase } from '../support/harness.js';

/**
 * /docs renders in headless Chromium (Debian's, /usr/bin/chromium; CI installs it) under its
 * strict CSP with no violation and no request leaving the origin: Swagger UI from this server
 * (Node), and from the pinned CDN URLs with their SRI hashes (Workers; the CDN is played from
 * the installed files, as there is no network beyond this server). "Try it out" reaches this
 * server. Without Chromium the test is skipped on a developer machine and fails in CI.
 */

const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const installed = (name: SwaggerUiFile) => readFile(join(SWAGGER_UI_DIR, name));

describe.skipIf(!hasChromium)('/docs in headless Chromium', () => {
  const database = useDatabase();
  const servers: LocalServer[] = [];
  let selfHosted: string;
  let workers: string;
  let dir: string;
  let browser: Browser;

  async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<string> {
    const { server, base } = await listenLocally(fetch);
    servers.push(server);
    return base;
  }

  beforeAll(async () => {
    const node = await buildLatchkey(database.current, { appDeps: { apiReference: apiReferenceAssets() } });
    const worker = await buildLatchkey(database.current); // no assets: the CDN, as on Workers
    selfHosted = await listen(node.app.fetch);
    workers = await listen(worker.app.fetch);
    dir = await mkdtemp(join(tmpdir(), 'latchkey-docs-'));
    browser = await launchChromium(['--disable-component-update']);
  });

  afterAll(async () => {
    await browser?.close();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A page that records what left this server, script errors and every CSP violation. */
  async function watchedPage(base: string) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(base) && !request.url().startsWith('data:')) foreign.push(request.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (event) =>
        seen.push(`${event.effectiveDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`),
      );
    });
    const violations = () =>
      page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    return { page, foreign, errors, consoleErrors, violations };
  }

  /**
   * Waits for the reference to show every tag's operations, opens one, and checks that its
   * example values are no safe-integer bound (zod's ±9007199254740991, which /openapi.json
   * no longer states).
   */
  async function expectReference(page: Page) {
    await page.getByText('Log in with email and password').first().waitFor({ timeout: 45_000 });
    for (const text of [
      'Latchkey',
      'Rotate a refresh token',
      'Create an account',
      'Revoke one of your sessions',
    ]) {
      expect(await page.getByText(text).count(), text).toBeGreaterThan(0);
    }
    for (const tag of ['auth', 'account', 'sessions', 'mfa', 'keys', 'oauth', 'admin', 'operations'])
      expect(await page.locator(`#operations-tag-${tag}`).count(), tag).toBe(1);
    // The response example of an operation renders (highlighted, styles from the stylesheet).
    await page.getByText('Rotate a refresh token').first().click();
    const example = page.locator('#operations-auth-postV1AuthRefresh .responses-wrapper .microlight').first();
    await example.waitFor({ timeout: 10_000 });
    const text = await example.textContent();
    expect(text).toContain('"expires_in"');
    expect(text).toContain('"session_id": "0192f1c4-5b7e-7a3d-9c21-4e8f6a0b2d37"');
    expect(await page.locator('body').textContent()).not.toContain('9007199254740991');
  }

  /** The CDN, played from the installed files (or other bytes for one of them), as jsDelivr serves them. */
  async function playCdn(page: Page, tampered?: { name: SwaggerUiFile; body: Buffer }) {
    for (const name of SWAGGER_UI_FILES) {
      const body = tampered?.name === name ? tampered.body : await installed(name);
      await page.route(SWAGGER_UI_CDN[name].url, (route) =>
        route.fulfill({
          status: 200,
          body,
          headers: {
            'content-type': name.endsWith('.js')
              ? 'application/javascript; charset=utf-8'
              : 'text/css; charset=utf-8',
            'access-control-allow-origin': '*',
          },
        }),
      );
    }
  }

  it('Node: renders the API reference of every tag from local assets only, compressed, with no CSP violation, and takes a screenshot', async () => {
    const { page, foreign, errors, consoleErrors, violations } = await watchedPage(selfHosted);
    const encodings = new Map<string, string | undefined>();
    page.on('response', (response) => {
      const name = new URL(response.url()).pathname;
      if (name.startsWith('/docs/')) encodings.set(name, response.headers()['content-encoding']);
    });
    try {
      const response = await page.goto(`${selfHosted}/docs`);
      expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
      await expectReference(page);
      // Chromium asks for br from a secure context (here http://127.0.0.1, a trustworthy origin).
      expect(Object.fromEntries(encodings)).toEqual({
        '/docs/swagger-ui-bundle.js': 'br',
        '/docs/swagger-ui.css': 'br',
      });
      const file = join(dir, 'docs.png');
      await page.screenshot({ path: file, fullPage: false });
      if (process.env.DOCS_SCREENSHOT) await page.screenshot({ path: process.env.DOCS_SCREENSHOT });
      const png = await readFile(file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
      expect(await violations()).toEqual([]);
      expect(errors).toEqual([]);
      // The browser's own /favicon.ico request is the only thing allowed to 404.
      expect(consoleErrors.filter((text) => !text.includes('404'))).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('Node: "Try it out" calls this server (the issuer is another origin: the page\'s own is used)', async () => {
    const { page, foreign, errors, violations } = await watchedPage(selfHosted);
    try {
      await page.goto(`${selfHosted}/docs#/operations/getHealth`);
      const operation = page.locator('#operations-operations-getHealth');
      await operation.getByRole('button', { name: 'Try it out' }).click();
      const answered = page.waitForResponse((response) => new URL(response.url()).pathname === '/health');
      await operation.getByRole('button', { name: 'Execute' }).click();
      expect((await answered).url()).toBe(`${selfHosted}/health`);
      const status = operation.locator('.live-responses-table tbody .response-col_status').first();
      await status.waitFor();
      expect(await status.textContent()).toMatch(/^200/);
      expect(await violations()).toEqual([]);
      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('Workers: the pinned CDN files pass their SRI checks and the CSP; nothing else is fetched', async () => {
    const { page, foreign, errors, consoleErrors, violations } = await watchedPage(workers);
    try {
      await playCdn(page);
      await page.goto(`${workers}/docs`);
      await expectReference(page);
      expect(await violations()).toEqual([]);
      expect(errors).toEqual([]);
      expect(consoleErrors.filter((text) => !text.includes('404'))).toEqual([]);
      expect(foreign.sort()).toEqual(SWAGGER_UI_FILES.map((name) => SWAGGER_UI_CDN[name].url).sort());
    } finally {
      await page.close();
    }
  }, 120_000);

  it.each(SWAGGER_UI_FILES)(
    'Workers: a CDN serving other bytes for %s gets them refused (SRI)',
    async (name) => {
      const { page, consoleErrors } = await watchedPage(workers);
      try {
        const body = Buffer.concat([await installed(name), Buffer.from('\n/* changed */\n')]);
        await playCdn(page, { name, body });
        const refused = page.waitForEvent('console', (message) => message.text().includes('integrity'));
        await page.goto(`${workers}/docs`);
        await refused;
        expect(consoleErrors.join('\n')).toMatch(
          /Failed to find a valid digest in the 'integrity' attribute/,
        );
        if (name === 'swagger-ui-bundle.js') {
          expect(await page.evaluate(() => 'SwaggerUIBundle' in window)).toBe(false);
          expect(await page.getByText('Log in with email and password').count()).toBe(0);
        } else {
          // The script still runs; the refused stylesheet styles nothing.
          await page.getByText('Log in with email and password').first().waitFor({ timeout: 45_000 });
          expect(await page.evaluate(() => document.styleSheets.length)).toBe(0);
        }
      } finally {
        await page.close();
      }
    },
    120_000,
  );
});
