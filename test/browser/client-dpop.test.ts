import { resolve } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type LocalServer, launchChromium, listenLocally } from '../support/browser.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  TestClock,
  uniqueEmail,
  useDatabase,
} from '../support/harness.js';

/**
 * `latchkey/client` with `dpop: true` in headless Chromium (RFC 9449, issue #22): the key pair
 * is made non-extractable and kept in IndexedDB, so a reload keeps the binding: the page signs
 * in (cookie delivery), is reloaded, and the new client refreshes with the same key. The
 * private key cannot be exported by the page. Without the stored key (IndexedDB cleared) the
 * refresh cookie is useless.
 *
 * The page is served on the server's own origin (Playwright answers its two URLs), so the
 * proofs' `htu` is the ISSUER's and the refresh cookie is first-party.
 */

/** The server on the wall clock: the browser's proofs carry the real time as `iat`. */
class WallClock extends TestClock {
  override now(): Date {
    return new Date();
  }
}

declare global {
  interface Window {
    Latchkey: typeof import('../../src/client/index.js');
  }
}

describe.skipIf(!hasChromium)('@latchkey/client DPoP key in IndexedDB, in headless Chromium', () => {
  const database = useDatabase();
  let lk: Latchkey;
  let server: LocalServer;
  let base: string;
  let browser: Browser;
  let script: string;
  const email = uniqueEmail('dpop-browser');

  beforeAll(async () => {
    ({ server, base } = await listenLocally((request) => lk.app.fetch(request), 'localhost'));
    lk = await buildLatchkey(database.current, {
      env: { ISSUER: base, ALLOWED_ORIGINS: base },
      clock: new WallClock(),
    });
    const registered = await lk.app.request('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(registered.status).toBe(201);
    const bundle = await build({
      entryPoints: [resolve(import.meta.dirname, '../../src/client/index.ts')],
      bundle: true,
      format: 'iife',
      globalName: 'Latchkey',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'warning',
    });
    script = bundle.outputFiles[0]!.text;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => server?.close(done));
  });

  /** A page of the server's origin with the client bundle as window.Latchkey. */
  async function openPage(): Promise<Page> {
    const page = await browser.newPage();
    await page.route(`${base}/test/page`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: '<!doctype html><meta charset="utf-8"><title>dpop</title><script src="/test/client.js"></script>',
      }),
    );
    await page.route(`${base}/test/client.js`, (route) =>
      route.fulfill({ contentType: 'text/javascript', body: script }),
    );
    await page.goto(`${base}/test/page`);
    await page.waitForFunction(() => typeof window.Latchkey?.createLatchkeyClient === 'function');
    return page;
  }

  it('signs in bound to a non-extractable key kept in IndexedDB; after a reload the same key refreshes', async () => {
    const page = await openPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));

    const first = await page.evaluate(
      async ([email, password]) => {
        const jkt = (token: string) =>
          JSON.parse(atob(token.split('.')[1]!.replaceAll('-', '+').replaceAll('_', '/'))).cnf?.jkt;
        const auth = window.Latchkey.createLatchkeyClient({ baseUrl: location.origin, dpop: true });
        const pair = await auth.login(email!, password!);
        if ('mfa_required' in pair) throw new Error('no MFA here');
        const me = await auth.me();
        // What IndexedDB holds: the CryptoKeyPair itself, its private key still not extractable.
        const db = await new Promise<IDBDatabase>((done, fail) => {
          const open = indexedDB.open('latchkey-dpop');
          open.onsuccess = () => done(open.result);
          open.onerror = () => fail(open.error);
        });
        const stored = await new Promise<CryptoKeyPair>((done, fail) => {
          const get = db.transaction('keys').objectStore('keys').get(location.origin);
          get.onsuccess = () => done(get.result);
          get.onerror = () => fail(get.error);
        });
        db.close();
        const exported = await crypto.subtle.exportKey('jwk', stored.privateKey).then(
          () => 'exported',
          (error: Error) => error.name,
        );
        return {
          tokenType: pair.token_type,
          jkt: jkt(pair.access_token),
          refreshTokenInBody: 'refresh_token' in pair,
          me: me.email,
          algorithm: (stored.privateKey.algorithm as EcKeyAlgorithm).namedCurve,
          extractable: stored.privateKey.extractable,
          exported,
          cookieVisible: document.cookie.includes('lk'),
        };
      },
      [email, PASSWORD],
    );
    expect(first).toMatchObject({
      tokenType: 'DPoP',
      refreshTokenInBody: false,
      me: email,
      algorithm: 'P-256',
      extractable: false,
      exported: 'InvalidAccessError',
      cookieVisible: false,
    });
    expect(first.jkt).toEqual(expect.any(String));

    // A reload: a new client, no token in memory; the refresh cookie and the stored key sign in.
    await page.reload();
    await page.waitForFunction(() => typeof window.Latchkey?.createLatchkeyClient === 'function');
    const second = await page.evaluate(async () => {
      const auth = window.Latchkey.createLatchkeyClient({ baseUrl: location.origin, dpop: true });
      const me = await auth.me(); // no access token: refreshes first, with a proof by the stored key
      const sessions = await auth.sessions();
      const token = auth.accessToken!;
      return {
        me: me.email,
        tokenType: auth.tokenType,
        jkt: JSON.parse(atob(token.split('.')[1]!.replaceAll('-', '+').replaceAll('_', '/'))).cnf?.jkt,
        keyBound: sessions.find((session) => session.current)?.key_bound,
      };
    });
    expect(second).toEqual({ me: email, tokenType: 'DPoP', jkt: first.jkt, keyBound: true });

    // The key gone (site data of IndexedDB cleared, the cookie kept): a new key cannot refresh.
    await page.reload();
    await page.waitForFunction(() => typeof window.Latchkey?.createLatchkeyClient === 'function');
    const third = await page.evaluate(async () => {
      await new Promise((done) => {
        const deletion = indexedDB.deleteDatabase('latchkey-dpop');
        deletion.onsuccess = deletion.onerror = done;
      });
      const auth = window.Latchkey.createLatchkeyClient({ baseUrl: location.origin, dpop: true });
      return auth.refresh().then(
        () => 'refreshed',
        (error: { status: number; code: string }) => `${error.status} ${error.code}`,
      );
    });
    expect(third).toBe('400 invalid_dpop_proof');
    expect(errors).toEqual([]);
    await page.close();
  });
});
