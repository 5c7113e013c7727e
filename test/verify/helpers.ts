import { expect, vi } from 'vitest';
import type { LatchkeyApp } from '../../src/http/app.js';
import { BearerError, createVerifier, type Verifier, type VerifierOptions } from '../../src/verify/index.js';
import { appFetch, call, login, refresh, type TokenPair } from '../support/client.js';
import { type Latchkey, PASSWORD } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/** Shared by the `latchkey/verify` suites: verifiers over the in-process server, forgers, recorders. */

export { b64, signRaw } from '../support/forge.js';

/** P-256's group order n (SEC 2 §2.4.2). */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** The s of a 64-byte ES256 signature (r || s, RFC 7518 §3.4), or of a token's signature. */
export function sOf(signatureOrToken: Uint8Array | string): bigint {
  const signature =
    typeof signatureOrToken === 'string'
      ? Buffer.from(signatureOrToken.slice(signatureOrToken.lastIndexOf('.') + 1), 'base64url')
      : Buffer.from(signatureOrToken);
  expect(signature).toHaveLength(64);
  return BigInt(`0x${signature.subarray(32).toString('hex')}`);
}

export const isLowS = (signatureOrToken: Uint8Array | string) => sOf(signatureOrToken) <= P256_ORDER / 2n;

/** The other ECDSA spelling of a signature, (r, n − s): just as valid to ECDSA itself. */
export function sTwinSignature(signature: Uint8Array): Uint8Array<ArrayBuffer> {
  const twin = new Uint8Array(64);
  twin.set(signature.subarray(0, 32));
  twin.set(Buffer.from((P256_ORDER - sOf(signature)).toString(16).padStart(64, '0'), 'hex'), 32);
  return twin;
}

/** An ES256 token's two spellings: the low-S one and its high-S twin (same header, payload, r). */
export function sSpellings(token: string): { low: string; high: string } {
  const dot = token.lastIndexOf('.');
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  const twin = `${token.slice(0, dot)}.${Buffer.from(sTwinSignature(signature)).toString('base64url')}`;
  return isLowS(token) ? { low: token, high: twin } : { low: twin, high: token };
}

/** A verifier of the kit over the in-process server, on the test clock. */
export function newVerifier(lk: Latchkey, overrides: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({
    issuer: lk.config.issuer,
    audience: lk.config.audience,
    fetch: appFetch(lk.app),
    now: () => lk.clock.now().getTime(),
    ...overrides,
  });
}

/** `verify` must refuse with a 401 `invalid_token` BearerError; returns it. */
export async function expectInvalidToken(verifier: Verifier, token: string): Promise<BearerError> {
  const error = await verifier.verify(token).then(
    (claims) => {
      throw new Error(`accepted: ${JSON.stringify(claims)}`);
    },
    (refusal: unknown) => refusal,
  );
  expect(error).toBeInstanceOf(BearerError);
  const bearer = error as BearerError;
  expect(bearer.code).toBe('invalid_token');
  expect(bearer.status).toBe(401);
  expect(bearer.wwwAuthenticate).toMatch(/^Bearer error="invalid_token"/);
  return bearer;
}

export interface Exchange {
  url: string;
  path: string;
  ifNoneMatch: string | null;
  /** 'pending' until the app answers: a request counts from the moment it is made. */
  status: number | 'pending' | 'failed';
  etag: string | null;
}

/**
 * A fetch over the in-process app that records each request (path, If-None-Match, status,
 * ETag) and can be told to fail (reject, as fetch does on a network error) for some paths.
 */
export function recordingFetch(app: LatchkeyApp) {
  const exchanges: Exchange[] = [];
  const failing = new Set<string>();
  const inner = appFetch(app);
  const fetch = async (url: string, init?: RequestInit): Promise<Response> => {
    const path = new URL(url).pathname;
    const exchange: Exchange = {
      url,
      path,
      ifNoneMatch: new Headers(init?.headers).get('if-none-match'),
      status: 'pending',
      etag: null,
    };
    exchanges.push(exchange);
    if (failing.has(path)) {
      exchange.status = 'failed';
      throw new TypeError('fetch failed (test outage)');
    }
    const response = await inner(url, init);
    exchange.status = response.status;
    exchange.etag = response.headers.get('etag');
    return response;
  };
  return {
    fetch,
    exchanges,
    failing,
    to: (path: string) => exchanges.filter((exchange) => exchange.path === path),
  };
}

export const FEED_PATH = '/oauth/revoked-sessions';
export const JWKS_PATH = '/.well-known/jwks.json';

const nowSeconds = (lk: Latchkey) => Math.floor(lk.clock.now().getTime() / 1000);

/** Enrols and activates TOTP for the session of `pair`; returns the base32 secret. */
export async function enableTotp(lk: Latchkey, pair: TokenPair): Promise<string> {
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: totpCode(secret, nowSeconds(lk)) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  return secret;
}

/** The first step of a password login of a user with TOTP: the `mfa_token` (lkm_…). */
export async function mfaToken(lk: Latchkey, email: string): Promise<string> {
  const first = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
  expect(first.status).toBe(200);
  expect(first.json.mfa_required).toBe(true);
  return first.json.mfa_token;
}

/** A full login with a TOTP code of the next time step (each code is good once): an aal2 session. */
export async function loginWithCode(lk: Latchkey, email: string, secret: string): Promise<TokenPair> {
  const token = await mfaToken(lk, email);
  lk.clock.advance(30_000);
  const res = await call(lk.app, '/v1/auth/login/mfa', {
    body: { mfa_token: token, code: totpCode(secret, nowSeconds(lk)) },
  });
  expect(res.status).toBe(200);
  return res.json;
}

/**
 * Counts signature checks. On Node the kit verifies with node:crypto's `verify` (see
 * src/verify/signature.ts), reached through `process.getBuiltinModule`: the same module object.
 */
export function spySignatureChecks() {
  const nodeCrypto = process.getBuiltinModule('node:crypto') as typeof import('node:crypto');
  return vi.spyOn(nodeCrypto, 'verify');
}

/** The access tokens of one session: a login, then refreshes, `count` in all (each checked 200). */
export async function accessTokensOfOneSession(app: LatchkeyApp, email: string, count: number) {
  let pair = await login(app, email);
  const tokens = [pair.access_token];
  while (tokens.length < count) {
    const res = await refresh(app, pair.refresh_token);
    expect(res.status).toBe(200);
    pair = res.json;
    tokens.push(pair.access_token);
  }
  return { tokens, last: pair };
}
