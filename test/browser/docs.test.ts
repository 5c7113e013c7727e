import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiReferenceAssets } from '../../src/entry/node-runtime.js';
import { SCALAR_CDN } from '../../src/http/routes/docs.js';
import { buildLatchkey, useDatabase } from '../support/harness.js';

/**
 * /docs renders in headless Chromium (Debian's, /usr/bin/chromium; CI installs it) under its
 * strict CSP with no violation: from the installed Scalar bundle (Node), and from the pinned
 * CDN URL with its SRI hash (Workers; the CDN is played from the installed file, as there is
 * no network beyond this server). Without Chromium the test is skipped on a developer
 * machine and fails in CI.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI)
  throw new Error(`CI needs Chromium at ${CHROMIUM} (apt-get install chromium)`);

const SCALAR_FILE = join(
  dirname(createRequire(import.meta.url).resolve('@scalar/api-reference')),
  'browser/standalone.js',
);

describe.skipIf(!available)('/docs in headless Chromium', () => {
  const database = useDatabase();
  const servers: ReturnType<typeof serve>[] = [];
  let selfHosted: string;
  let workers: string;
  let dir: string;
  let browser: Browser;

  async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<string> {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' });
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    const node = await buildLatchkey(database.current, { appDeps: { apiReference: apiReferenceAssets() } });
    const worker = await buildLatchkey(database.current); // no assets: the CDN, as on Workers
    selfHosted = await listen(node.app.fetch);
    workers = await listen(worker.app.fetch);
    dir = await mkdtemp(join(tmpdir(), 'latchkey-docs-'));
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

  /** Waits for the reference to show, opens one operation, and checks what every tag shows. */
  async function expectReference(page: Page) {
    await page.getByText('Log in with email and password').first().waitFor({ timeout: 20_000 });
    for (const text of ['Latchkey', 'Rotate a refresh token', 'Create an account']) {
      expect(await page.getByText(text).count(), text).toBeGreaterThan(0);
    }
    // Code samples and the response examples render (their styles came from script).
    await page.getByText('Rotate a refresh token').first().click();
    await page.getByText('curl').first().waitFor({ timeout: 10_000 });
  }

  /** The CDN, played from the installed file (or from `body` instead), as jsDelivr serves it. */
  async function playCdn(page: Page, body?: Buffer) {
    const file = body ?? (await readFile(SCALAR_FILE));
    await page.route(SCALAR_CDN, (route) =>
      route.fulfill({
        status: 200,
        body: file,
        headers: {
          'content-type': 'application/javascript; charset=utf-8',
          'access-control-allow-origin': '*',
        },
      }),
    );
  }

  it('Node: renders the API reference of every tag from local assets only, with no CSP violation, and takes a screenshot', async () => {
    const { page, foreign, errors, consoleErrors, violations } = await watchedPage(selfHosted);
    try {
      const response = await page.goto(`${selfHosted}/docs`);
      expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
      await expectReference(page);
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
  }, 60_000);

  it('Workers: the pinned CDN script passes its SRI check and the CSP; nothing else is fetched', async () => {
    const { page, foreign, errors, consoleErrors, violations } = await watchedPage(workers);
    try {
      await playCdn(page);
      await page.goto(`${workers}/docs`);
      await expectReference(page);
      expect(await violations()).toEqual([]);
      expect(errors).toEqual([]);
      expect(consoleErrors.filter((text) => !text.includes('404'))).toEqual([]);
      expect(foreign).toEqual([SCALAR_CDN]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('Workers: a CDN serving other bytes runs nothing (SRI)', async () => {
    const { page, consoleErrors } = await watchedPage(workers);
    try {
      const tampered = Buffer.concat([await readFile(SCALAR_FILE), Buffer.from('\n;alert(1);\n')]);
      await playCdn(page, tampered);
      const refused = page.waitForEvent('console', (message) => message.text().includes('integrity'));
      await page.goto(`${workers}/docs`);
      await refused;
      expect(consoleErrors.join('\n')).toMatch(/Failed to find a valid digest in the 'integrity' attribute/);
      expect(await page.evaluate(() => 'Scalar' in window)).toBe(false);
      expect(await page.getByText('Log in with email and password').count()).toBe(0);
    } finally {
      await page.close();
    }
  }, 60_000);
});
