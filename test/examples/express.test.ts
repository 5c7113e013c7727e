import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@latchkey/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer } from '../../examples/express/app.js';
import { appFetch, call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/**
 * examples/express: Express 5 with the kit's `authenticateRequest` / `errorResponseFor`,
 * listening on a real socket, against the real Latchkey app (the kit fetches the JWKS and the
 * revocation feed from it in-process, on the injected clock).
 */
const database = useDatabase();
let lk: Latchkey;
let server: Server;
let base: string;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  const verifier = createVerifier({
    issuer: lk.config.issuer,
    audience: lk.config.audience,
    fetch: appFetch(lk.app),
    now: () => lk.clock.now().getTime(),
  });
  server = createResourceServer(verifier).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

const callApi = (path: string, token?: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
  });

describe('examples/express', () => {
  it('serves /me to a signed-in user; no token, a forged one and a revoked session get RFC 6750 401s', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const me = await callApi('/me', pair.access_token);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ user_id: id, session_id: pair.session_id, acr: 'aal1' });

    const anonymous = await callApi('/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    expect(anonymous.headers.get('cache-control')).toBe('no-store');
    expect(await anonymous.json()).toMatchObject({ error: 'invalid_token' });

    const [header, body] = pair.access_token.split('.');
    const forged = await callApi('/me', `${header}.${body}.${'A'.repeat(86)}`);
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);

    // Logged out: the session is in the revocation feed, which the kit fetches (here at once).
    const out = await call(lk.app, '/v1/auth/logout', { body: { refresh_token: pair.refresh_token } });
    expect(out.status).toBe(204);
    lk.clock.advance(31_000); // past the feed's maxDelaySeconds (30): the next verification refetches it
    const revoked = await callApi('/me', pair.access_token);
    expect(revoked.status).toBe(401);
    expect((await revoked.json()).error_description).toMatch(/session/i);
  });

  it('asks a password-only session to step up for /payouts, and lets an aal2 one through for 5 minutes', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const denied = await callApi('/payouts', pair.access_token, { method: 'POST' });
    expect(denied.status).toBe(401);
    const challenge = denied.headers.get('www-authenticate');
    expect(challenge).toContain('error="insufficient_user_authentication"');
    expect(challenge).toContain('acr_values="aal2"');

    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    const code = totpCode(enrolled.json.secret, Math.floor(lk.clock.now().getTime() / 1000));
    const activated = await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code },
      token: pair.access_token,
    });
    expect(activated.status).toBe(200);
    const aal2 = (await refresh(lk.app, pair.refresh_token)).json;

    const paid = await callApi('/payouts', aal2.access_token, { method: 'POST' });
    expect(paid.status).toBe(201);
    expect(await paid.json()).toMatchObject({ status: 'scheduled' });

    lk.clock.advance(301_000);
    const stale = await callApi('/payouts', aal2.access_token, { method: 'POST' });
    expect(stale.status).toBe(401);
    expect(stale.headers.get('www-authenticate')).toContain('max_age=300');
  });

  it('answers JSON errors for a bad body and an unknown route, and 503 when the keys cannot be fetched', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const badBody = await callApi('/payouts', pair.access_token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"amount":',
    });
    expect(badBody.status).toBe(400);
    expect(await badBody.json()).toMatchObject({ error: 'invalid_request' });
    const tooBig = await callApi('/payouts', pair.access_token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'x'.repeat(20_000) }),
    });
    expect(tooBig.status).toBe(413);
    const unknown = await callApi('/nope');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'not_found' });

    // A verifier whose Latchkey is unreachable: 503 with Retry-After, not a 401 that would sign the user out.
    const offline = createResourceServer(
      createVerifier({
        issuer: lk.config.issuer,
        audience: lk.config.audience,
        fetch: () => Promise.reject(new Error('connection refused')),
        revocation: false,
      }),
    ).listen(0, '127.0.0.1');
    await new Promise((resolve) => offline.once('listening', resolve));
    try {
      const answer = await fetch(`http://127.0.0.1:${(offline.address() as AddressInfo).port}/me`, {
        headers: { authorization: `Bearer ${pair.access_token}` },
      });
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('5');
    } finally {
      await new Promise((resolve) => offline.close(resolve));
    }
  });
});
