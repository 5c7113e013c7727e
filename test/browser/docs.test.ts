import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiReferenceAssets } from '../../src/entry/node-runtime.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/**
 * /docs renders in headless Chromium (Debian's, /usr/bin/chromium; CI installs it) from the
 * installed Scalar bundle, with no network beyond this server. Without Chromium the test is
 * skipped on a developer machine and fails in CI.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI)
  throw new Error(`CI needs Chromium at ${CHROMIUM} (apt-get install chromium)`);

describe.skipIf(!available)('/docs in headless Chromium', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let server: ReturnType<typeof serve>;
  let base: string;
  let dir: string;

  beforeAll(async () => {
    lk = await buildLatchkey(database.current, { appDeps: { apiReference: apiReferenceAssets() } });
    server = serve({ fetch: lk.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'latchkey-docs-'));
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders the API reference of every tag, from local assets only, and takes a screenshot', async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const foreign: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(base) && !request.url().startsWith('data:'))
          foreign.push(request.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${base}/docs`);
      await page.getByText('Log in with email and password').first().waitFor({ timeout: 20_000 });
      for (const text of ['Latchkey', 'Rotate a refresh token', 'Create an account']) {
        expect(await page.getByText(text).count(), text).toBeGreaterThan(0);
      }
      const file = join(dir, 'docs.png');
      await page.screenshot({ path: file, fullPage: false });
      if (process.env.DOCS_SCREENSHOT) await page.screenshot({ path: process.env.DOCS_SCREENSHOT });
      const png = await readFile(file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
