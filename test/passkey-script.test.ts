import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createContext, Script } from 'node:vm';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSKEY_SCRIPT } from '../src/http/pages/views/passkey-script.js';
import { hasChromium, launchChromium } from './support/browser.js';

/**
 * The account pages' passkey script (issue #20): scripts/passkeys-browser.js bundled with
 * @simplewebauthn/browser by scripts/passkey-script.mjs into src/http/pages/views/passkey-script.ts.
 * The committed module is what a fresh build makes, and the string is safe to inline under
 * the pages' CSP nonce. Then, when Chromium is there, the script runs its ceremonies against
 * a Chromium virtual authenticator and a small stand-in server (the real pages' flow is
 * test/browser's).
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODULE = 'src/http/pages/views/passkey-script.ts';
const REGENERATE = `${MODULE} is not what scripts/passkey-script.mjs makes of scripts/passkeys-browser.js and the installed @simplewebauthn/browser: run \`npm run build:passkey-script\` (node scripts/passkey-script.mjs) and commit the result`;

interface Generator {
  bundlePasskeyScript(): Promise<string>;
  moduleText(script: string): string;
}
// A variable, not a literal: the generator is plain JavaScript without a declaration file.
const GENERATOR = '../scripts/passkey-script.mjs';
const generator = (): Promise<Generator> => import(GENERATOR);

describe('the generated passkey script', () => {
  it('is what a fresh build makes (regenerate with npm run build:passkey-script)', async () => {
    const { bundlePasskeyScript, moduleText } = await generator();
    const fresh = await bundlePasskeyScript();
    expect(PASSKEY_SCRIPT === fresh, REGENERATE).toBe(true);
    // The whole file too: its header and the literal's quoting (biome's, so lint passes).
    expect(readFileSync(`${ROOT}/${MODULE}`, 'utf8') === moduleText(fresh), REGENERATE).toBe(true);
  });

  it('builds the same bytes twice (no dates, no paths)', async () => {
    const { bundlePasskeyScript } = await generator();
    expect(await bundlePasskeyScript()).toBe(await bundlePasskeyScript());
    expect(PASSKEY_SCRIPT).not.toContain(ROOT);
  });

  it('needs no eval: the CSP has no unsafe-eval', () => {
    expect(PASSKEY_SCRIPT).not.toMatch(/\beval\s*\(/);
    expect(PASSKEY_SCRIPT).not.toMatch(/\bnew\s+Function\b/);
    expect(PASSKEY_SCRIPT).not.toMatch(/\bFunction\s*\(/);
    expect(PASSKEY_SCRIPT).not.toMatch(/\bimport\s*\(/);
  });

  it('cannot end or confuse its inline <script> element, and is ASCII', () => {
    // HTML's script data state: `</script` ends the element, `<!--` starts an escape.
    expect(PASSKEY_SCRIPT).not.toMatch(/<\/script/i);
    expect(PASSKEY_SCRIPT).not.toContain('<!--');
    expect(PASSKEY_SCRIPT).toMatch(/^[\x20-\x7e\n]*$/);
  });

  it('is under 16 KiB', () => {
    expect(Buffer.byteLength(PASSKEY_SCRIPT)).toBeLessThan(16 * 1024);
  });

  it('is one IIFE that leaves no globals and does nothing on a page without passkeys', () => {
    expect(PASSKEY_SCRIPT.startsWith('"use strict";(()=>{')).toBe(true);
    expect(PASSKEY_SCRIPT.endsWith('})();')).toBe(true);
    // A browser without WebAuthn and a page without passkey forms: no error, no global.
    const listeners: string[] = [];
    const document = {
      body: {},
      querySelector: () => null,
      querySelectorAll: () => [],
      addEventListener: (type: string) => listeners.push(`document ${type}`),
    };
    const context = createContext({
      document,
      location: { href: 'https://id.example.com/account/sign-in' },
      addEventListener: (type: string) => listeners.push(`window ${type}`),
    });
    const before = Object.keys(context);
    new Script(PASSKEY_SCRIPT).runInContext(context);
    expect(Object.keys(context)).toEqual(before);
    expect(listeners.sort()).toEqual(['document submit', 'window pageshow']);
  });
});

/**
 * A stand-in for the account pages: the passkey forms as the data attributes describe them,
 * under the pages' CSP, with options and verification by @simplewebauthn/server. Each
 * answer page names its outcome in its <title>.
 */
function standIn() {
  const rpID = 'localhost';
  const credentials: WebAuthnCredential[] = [];
  const challenges = new Map<string, string>(); // csrf → the challenge last issued to it
  const requests: string[] = [];
  let origin = '';
  let optionsAnswer: 'options' | 'json-error' | 'redirect' = 'options';

  const page = (title: string, body: string, nonce: string) =>
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}<script nonce="${nonce}">${PASSKEY_SCRIPT}</script></body></html>`;
  const passkeyForm = (kind: string, action: string, button: string, csrf: string) =>
    `<form method="post" action="${action}" data-passkey="${kind}" data-options-url="/options/${kind === 'register' ? 'register' : 'authenticate'}" data-passkey-only hidden>
      <input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="response" value="">
      ${button ? `<button type="submit">${button}</button>` : ''}<p data-passkey-error role="alert"></p></form>`;
  const PAGES: Record<string, (csrf: string) => string> = {
    '/security': (csrf) => passkeyForm('register', '/verify/register', 'Add a passkey', csrf),
    '/sign-in': (csrf) =>
      `<form method="post" action="/sign-in"><input name="email" autocomplete="username webauthn" aria-label="Email"></form>
      ${passkeyForm('autofill', '/verify/authenticate', '', csrf)}
      ${passkeyForm('authenticate', '/verify/authenticate', 'Sign in with a passkey', csrf)}`,
  };

  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  };
  const send = (response: ServerResponse, status: number, type: string, body: string, nonce = '') => {
    response.writeHead(status, {
      'content-type': type,
      'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'`,
    });
    response.end(body);
  };
  const redirect = (response: ServerResponse, to: string) => {
    response.writeHead(303, { location: to });
    response.end();
  };

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const { pathname } = new URL(request.url ?? '/', origin);
    requests.push(`${request.method} ${pathname}`);
    const nonce = randomBytes(16).toString('base64url');
    const render = PAGES[pathname];
    if (request.method === 'GET' && render) {
      const csrf = randomBytes(8).toString('hex');
      return send(response, 200, 'text/html; charset=utf-8', page(pathname, render(csrf), nonce), nonce);
    }
    if (request.method === 'GET' && pathname.startsWith('/done/'))
      return send(response, 200, 'text/html; charset=utf-8', page(pathname, '', nonce), nonce);
    if (request.method !== 'POST') return send(response, 404, 'text/plain', 'not found');
    const form = await readBody(request);
    const csrf = form.get('csrf') ?? '';
    if (pathname.startsWith('/options/')) {
      if (optionsAnswer === 'redirect') return redirect(response, '/done/signed-out');
      if (optionsAnswer === 'json-error')
        return send(
          response,
          429,
          'application/json',
          JSON.stringify({ error: 'too_many_attempts', message: 'Too many attempts. Wait a minute.' }),
        );
      const options =
        pathname === '/options/register'
          ? await generateRegistrationOptions({
              rpName: 'Test',
              rpID,
              userName: 'ada@example.com',
              excludeCredentials: credentials.map(({ id, transports }) => ({ id, transports })),
              authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
            })
          : await generateAuthenticationOptions({ rpID, userVerification: 'required' });
      challenges.set(csrf, options.challenge);
      return send(response, 200, 'application/json', JSON.stringify({ options }));
    }
    const expectedChallenge = challenges.get(csrf) ?? '';
    challenges.delete(csrf);
    try {
      if (pathname === '/verify/register') {
        const body = JSON.parse(form.get('response') ?? '') as RegistrationResponseJSON;
        const verified = await verifyRegistrationResponse({
          response: body,
          expectedChallenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
        });
        if (!verified.verified || !verified.registrationInfo) throw new Error('not verified');
        credentials.push(verified.registrationInfo.credential);
        return redirect(response, '/done/registered');
      }
      if (pathname === '/verify/authenticate') {
        const body = JSON.parse(form.get('response') ?? '') as AuthenticationResponseJSON;
        const credential = credentials.find((c) => c.id === body.id);
        if (!credential) throw new Error('unknown credential');
        const verified = await verifyAuthenticationResponse({
          response: body,
          expectedChallenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          credential,
        });
        if (!verified.verified) throw new Error('not verified');
        return redirect(response, '/done/signed-in');
      }
    } catch (error) {
      return redirect(response, `/done/failed?${encodeURIComponent(String(error))}`);
    }
    return send(response, 404, 'text/plain', 'not found');
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error) => send(response, 500, 'text/plain', String(error)));
  });
  return {
    server,
    requests,
    credentials,
    setOrigin: (value: string) => {
      origin = value;
    },
    answerOptionsWith: (value: typeof optionsAnswer) => {
      optionsAnswer = value;
    },
  };
}

describe.skipIf(!hasChromium)('the passkey script in headless Chromium', () => {
  const site = standIn();
  let browser: Browser;
  let base: string;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  const problems: string[] = [];

  /** Watches the conditional (autofill) requests: DevTools scripts are not under the page's CSP. */
  const watchConditional = () =>
    page.addInitScript(() => {
      const get = navigator.credentials.get.bind(navigator.credentials);
      const log: string[] = [];
      Object.assign(window, { conditionalLog: log });
      navigator.credentials.get = (options?: CredentialRequestOptions) => {
        const conditional = options?.mediation === 'conditional';
        if (conditional) log.push('pending');
        const pending = get(options);
        if (conditional)
          pending.then(
            () => log.push('resolved'),
            (error: Error) => log.push(error.name),
          );
        return pending;
      };
    });

  beforeAll(async () => {
    site.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => site.server.once('listening', resolve));
    // localhost: a secure context over http, and a valid RP ID (an IP address is not one).
    base = `http://localhost:${(site.server.address() as AddressInfo).port}`;
    site.setOrigin(base);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(`console: ${message.text()}`);
    });
    // Chromium's virtual authenticator (DevTools WebAuthn domain): a platform authenticator
    // that keeps passkeys and verifies the user without anyone touching it.
    cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
    await watchConditional();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => site.server.close(resolve));
  });

  const conditionalLog = () =>
    page.evaluate(() => (window as unknown as { conditionalLog: string[] }).conditionalLog);
  const errorText = (form: string) =>
    page.locator(`form[data-passkey="${form}"] [data-passkey-error]`).textContent();

  it('shows the passkey forms, registers a passkey and posts the response', async () => {
    await page.goto(`${base}/security`);
    const button = page.getByRole('button', { name: 'Add a passkey' });
    await expect.poll(() => button.isVisible()).toBe(true);
    await Promise.all([page.waitForURL(`${base}/done/registered`), button.click()]);
    expect(site.credentials).toHaveLength(1);
  });

  it('says so when the passkey is registered already (InvalidStateError), button enabled again', async () => {
    await page.goto(`${base}/security`);
    const button = page.getByRole('button', { name: 'Add a passkey' });
    await button.click();
    await expect.poll(() => errorText('register')).toContain('registered already');
    expect(await button.isEnabled()).toBe(true);
    expect(page.url()).toBe(`${base}/security`);
  });

  it('shows the server JSON error message, and follows a redirect to another page', async () => {
    await page.goto(`${base}/security`);
    site.answerOptionsWith('json-error');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await expect.poll(() => errorText('register')).toBe('Too many attempts. Wait a minute.');
    site.answerOptionsWith('redirect');
    await Promise.all([
      page.waitForURL(`${base}/done/signed-out`),
      page.getByRole('button', { name: 'Add a passkey' }).click(),
    ]);
    site.answerOptionsWith('options');
  });

  const presence = (enabled: boolean) =>
    cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });

  it('signs in through autofill: Chromium offers the passkey to the conditional request', async () => {
    expect(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable())).toBe(true);
    // The virtual authenticator answers a conditional request at once, as a person picking
    // the passkey from the email field's autofill would.
    await page.goto(`${base}/sign-in`, { waitUntil: 'commit' });
    await page.waitForURL(`${base}/done/signed-in`);
    expect(problems).toEqual([]);
  });

  it('the button replaces a pending autofill request, whose AbortError shows nothing', async () => {
    await presence(false);
    await page.goto(`${base}/sign-in`);
    await expect.poll(conditionalLog).toEqual(['pending']);
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.click();
    await expect.poll(conditionalLog).toEqual(['pending', 'AbortError']);
    expect(await errorText('autofill')).toBe('');
    expect(await errorText('authenticate')).toBe('');
    // The button's own ceremony waits for the person (no presence): its button is disabled.
    expect(await button.isDisabled()).toBe(true);
    await presence(true);
    expect(problems).toEqual([]);
  });

  it('says the request was cancelled when no passkey answers (NotAllowedError); autofill stays quiet', async () => {
    // The authenticator's passkeys are gone: the browser has nothing to offer.
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
    await page.goto(`${base}/sign-in`);
    // Chromium's virtual environment refuses the conditional request at once: not an error to show.
    await expect.poll(conditionalLog).toEqual(['pending', 'NotAllowedError']);
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.click();
    await expect.poll(() => errorText('authenticate')).toContain('cancelled or timed out');
    expect(await button.isEnabled()).toBe(true);
    expect(await errorText('autofill')).toBe('');
    // After the failed button, the browser is asked to offer passkeys in the autofill again.
    await expect.poll(conditionalLog).toEqual(['pending', 'NotAllowedError', 'pending', 'NotAllowedError']);
    expect(problems).toEqual([]);
  });
});
