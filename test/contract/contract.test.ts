import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { sha256Base64url } from '../../src/lib/crypto.js';
import { call, decodeJwtPart, login, refresh, registerUser } from '../support/client.js';
import { PASSWORD, uniqueEmail } from '../support/harness.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';
import { totpCode } from '../support/totp.js';
import { useTargets } from './target.js';

/**
 * The HTTP contract (docs/API.md) as one set of test bodies for both runtimes: the app
 * on Node by default, the worker in workerd on PostgreSQL in CI (see target.ts). Scenarios
 * that need a moved clock stay in the Node-only suites; these run on real time.
 */
const targets = useTargets();
const main = () => targets.current.main;

describe(`contract (${process.env.CONTRACT_WORKER_URL ? 'worker' : 'node'})`, () => {
  it('register, login, me, refresh: a token pair of the documented shape', async () => {
    const { email, id } = await registerUser(main());
    const pair = await login(main(), email, { device_name: 'contract' });
    expect(pair).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(pair.refresh_token).toMatch(/^lkr_/);
    expect(decodeJwtPart(pair.access_token, 0)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(decodeJwtPart(pair.access_token, 1)).toMatchObject({ sub: id, sid: pair.session_id, acr: 'aal1' });
    const me = await call(main(), '/v1/users/me', { token: pair.access_token });
    expect(me.status).toBe(200);
    expect(me.json.user).toMatchObject({ id, email, mfa_enabled: false });
    const next = await refresh(main(), pair.refresh_token);
    expect(next.status).toBe(200);
    expect(next.json.refresh_token).not.toBe(pair.refresh_token);
    expect(next.headers.get('cache-control')).toContain('no-store');
  });

  it('wrong password and unknown email get the same 401', async () => {
    const { email } = await registerUser(main());
    const wrong = await call(main(), '/v1/auth/login', { body: { email, password: 'not the password' } });
    const unknown = await call(main(), '/v1/auth/login', {
      body: { email: uniqueEmail(), password: PASSWORD },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toEqual(unknown.json);
  });

  it('a replay within the grace window returns the same successor', async () => {
    const { email } = await registerUser(main());
    const pair = await login(main(), email);
    const first = await refresh(main(), pair.refresh_token);
    const replay = await refresh(main(), pair.refresh_token);
    expect(replay.status).toBe(200);
    expect(replay.json.refresh_token).toBe(first.json.refresh_token);
  });

  it('parallel refreshes of one token never fork the session', async () => {
    const { email } = await registerUser(main());
    const pair = await login(main(), email);
    const results = await Promise.all(Array.from({ length: 8 }, () => refresh(main(), pair.refresh_token)));
    const ok = results.filter((res) => res.status === 200);
    expect(ok.length).toBeGreaterThan(0);
    expect(new Set(ok.map((res) => res.json.refresh_token)).size).toBe(1);
    const live = ok[0]!.json.refresh_token;
    expect((await refresh(main(), live)).status).toBe(200);
  });

  it('a replay after the grace window (0 here) revokes the whole session', async () => {
    const server = targets.current.noGrace;
    const { email } = await registerUser(server);
    const pair = await login(server, email);
    const next = await refresh(server, pair.refresh_token);
    expect(next.status).toBe(200);
    const replay = await refresh(server, pair.refresh_token);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('refresh_token_reused');
    expect((await refresh(server, next.json.refresh_token)).json.error).toBe('invalid_grant');
    expect((await call(server, '/v1/users/me', { token: next.json.access_token })).status).toBe(401);
  });

  it('sessions: listed with their device, revoked one by one or all at once', async () => {
    const { email } = await registerUser(main());
    const phone = await login(main(), email, { device_name: 'phone' }, { 'user-agent': 'ContractPhone/1' });
    const laptop = await login(main(), email, { device_name: 'laptop' });
    const tablet = await login(main(), email, { device_name: 'tablet' });
    const list = await call(main(), '/v1/sessions', { token: laptop.access_token });
    expect(list.status).toBe(200);
    expect(list.json.sessions.map((s: { device_name: string }) => s.device_name).sort()).toEqual([
      'laptop',
      'phone',
      'tablet',
    ]);
    const phoneRow = list.json.sessions.find((s: { id: string }) => s.id === phone.session_id);
    expect(phoneRow).toMatchObject({ user_agent: 'ContractPhone/1', current: false, acr: 'aal1' });

    const revoked = await call(main(), `/v1/sessions/${phone.session_id}`, {
      method: 'DELETE',
      token: laptop.access_token,
    });
    expect(revoked.status).toBe(204);
    expect((await refresh(main(), phone.refresh_token)).json.error).toBe('invalid_grant');
    expect((await call(main(), '/v1/users/me', { token: phone.access_token })).status).toBe(401);

    const all = await call(main(), '/v1/sessions/revoke-all', { body: {}, token: laptop.access_token });
    expect(all.json).toEqual({ revoked: 1 });
    expect((await refresh(main(), tablet.refresh_token)).status).toBe(401);
    expect((await call(main(), '/v1/users/me', { token: laptop.access_token })).status).toBe(200);
  });

  it('MFA: enrol, activate, log in with a code and with a recovery code, step up', async () => {
    const { email } = await registerUser(main());
    const pair = await login(main(), email);
    const enrolled = await call(main(), '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    expect(enrolled.status).toBe(200);
    const secret: string = enrolled.json.secret;
    const now = () => Math.floor(Date.now() / 1000);
    const activated = await call(main(), '/v1/mfa/totp/activate', {
      body: { code: totpCode(secret, now()) },
      token: pair.access_token,
    });
    expect(activated.status).toBe(200);
    const recoveryCodes: string[] = activated.json.recovery_codes;
    expect(recoveryCodes).toHaveLength(10);

    const challenge = await call(main(), '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(challenge.json).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code'] });
    // The code of the next step (RFC 6238 allows one step of drift): the current one is spent.
    const withCode = await call(main(), '/v1/auth/login/mfa', {
      body: { mfa_token: challenge.json.mfa_token, code: totpCode(secret, now() + 30) },
    });
    expect(withCode.status).toBe(200);
    expect(decodeJwtPart(withCode.json.access_token, 1)).toMatchObject({ acr: 'aal2', amr: ['pwd', 'otp'] });

    const again = await call(main(), '/v1/auth/login', { body: { email, password: PASSWORD } });
    const withRecovery = await call(main(), '/v1/auth/login/mfa', {
      body: { mfa_token: again.json.mfa_token, recovery_code: recoveryCodes[0] },
    });
    expect(withRecovery.status).toBe(200);
    const reused = await call(main(), '/v1/auth/login', { body: { email, password: PASSWORD } });
    const twice = await call(main(), '/v1/auth/login/mfa', {
      body: { mfa_token: reused.json.mfa_token, recovery_code: recoveryCodes[0] },
    });
    expect(twice.status).toBe(401);
    expect(twice.json.error).toBe('invalid_code');

    const stepUp = await call(main(), '/v1/auth/step-up', {
      body: { password: PASSWORD },
      token: withRecovery.json.access_token,
    });
    expect(stepUp.status).toBe(200);
    expect(decodeJwtPart(stepUp.json.access_token, 1).acr).toBe('aal1');

    // aal2 and fresh: regenerating recovery codes needs both (RFC 9470 challenge otherwise).
    const denied = await call(main(), '/v1/mfa/recovery-codes', {
      method: 'POST',
      token: stepUp.json.access_token,
    });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toContain('acr_values="aal2"');
    const codes = await call(main(), '/v1/mfa/recovery-codes', {
      method: 'POST',
      token: withCode.json.access_token,
    });
    expect(codes.status).toBe(200);
  });

  it('passkeys: register from a fresh session, sign in without an email (aal2), step up; replays and strangers refused', async () => {
    // ISSUER is http://localhost:3000 on both runtimes: the RP ID and the origin follow it.
    const authenticator = new SoftAuthenticator({ origin: 'http://localhost:3000' });
    const { email, id } = await registerUser(main());
    const pair = await login(main(), email);
    const options = await call(main(), '/v1/passkeys/registration/options', {
      method: 'POST',
      token: pair.access_token,
    });
    expect(options.status).toBe(200);
    expect(options.json).toMatchObject({ rp: { id: 'localhost' }, attestation: 'none' });
    const created = await call(main(), '/v1/passkeys', {
      body: { response: await authenticator.register(options.json), name: 'Contract key' },
      token: pair.access_token,
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'Contract key', device_type: 'singleDevice' });
    expect(created.json).not.toHaveProperty('public_key');

    // Discoverable: the options name no user and no credential.
    const signInOptions = await call(main(), '/v1/auth/passkey/options', { method: 'POST' });
    expect(signInOptions.status).toBe(200);
    expect(signInOptions.json.allowCredentials ?? []).toEqual([]);
    const assertion = await authenticator.authenticate(signInOptions.json);
    const signedIn = await call(main(), '/v1/auth/passkey', { body: { response: assertion } });
    expect(signedIn.status).toBe(200);
    expect(decodeJwtPart(signedIn.json.access_token, 1)).toMatchObject({
      sub: id,
      acr: 'aal2',
      amr: ['hwk', 'user', 'mfa'],
    });
    // The same assertion again: its challenge was taken by the first.
    const replayed = await call(main(), '/v1/auth/passkey', { body: { response: assertion } });
    expect(replayed.status).toBe(401);
    expect(replayed.json.error).toBe('invalid_passkey');
    // Another site's page: a phishing origin's response is refused.
    const phished = await call(main(), '/v1/auth/passkey', {
      body: {
        response: await authenticator.authenticate(
          (await call(main(), '/v1/auth/passkey/options', { method: 'POST' })).json,
          { origin: 'https://login.example.net' },
        ),
      },
    });
    expect(phished.status).toBe(401);

    // Step-up of the password session with the passkey: aal2.
    const stepOptions = await call(main(), '/v1/auth/step-up/passkey-options', {
      method: 'POST',
      token: pair.access_token,
    });
    expect(stepOptions.status).toBe(200);
    expect(stepOptions.json.allowCredentials).toHaveLength(1);
    const stepped = await call(main(), '/v1/auth/step-up', {
      body: { passkey: await authenticator.authenticate(stepOptions.json) },
      token: pair.access_token,
    });
    expect(stepped.status).toBe(200);
    expect(decodeJwtPart(stepped.json.access_token, 1)).toMatchObject({ acr: 'aal2' });

    // Someone else's session cannot use this user's passkey to step up.
    const other = await registerUser(main());
    const otherPair = await login(main(), other.email);
    const strangerOptions = await call(main(), '/v1/auth/step-up/passkey-options', {
      method: 'POST',
      token: otherPair.access_token,
    });
    expect(strangerOptions.status).toBe(404);

    const listed = await call(main(), '/v1/passkeys', { token: pair.access_token });
    expect(listed.json.passkeys).toHaveLength(1);
    expect(listed.json.passkeys[0].last_used_at).not.toBeNull();
    const removed = await call(main(), `/v1/passkeys/${created.json.id}`, {
      method: 'DELETE',
      token: stepped.json.access_token,
    });
    expect(removed.status).toBe(204);
    const afterRemoval = await call(main(), '/v1/auth/passkey', {
      body: {
        response: await authenticator.authenticate(
          (await call(main(), '/v1/auth/passkey/options', { method: 'POST' })).json,
        ),
      },
    });
    expect(afterRemoval.status).toBe(401);
  });

  it('password hashes made by one runtime verify on the other, both ways', async () => {
    const { main: server, otherHasher } = targets.current;
    const onMain = await registerUser(server);
    expect((await login(otherHasher, onMain.email)).access_token).toBeTruthy();
    const onOther = await registerUser(otherHasher);
    expect((await login(server, onOther.email)).access_token).toBeTruthy();
  });

  it('bad input is a JSON 4xx, never a 500', async () => {
    const cases = [
      await call(main(), '/v1/auth/login', {
        rawBody: '{"email":',
        headers: { 'content-type': 'application/json' },
      }),
      await call(main(), '/v1/auth/login', { rawBody: 'email=a', headers: { 'content-type': 'text/plain' } }),
      await call(main(), '/v1/auth/refresh', { body: { refresh_token: 42 } }),
      await call(main(), '/v1/users/me', { token: 'not.a.token' }),
      await call(main(), '/nope'),
    ];
    for (const res of cases) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(typeof res.json.error).toBe('string');
    }
  });

  it('the account pages: a form sign-in without JavaScript reaches the devices page, under a nonce CSP', async () => {
    const { email } = await registerUser(main());
    const jar = new Map<string, string>();
    const keep = (response: Response) => {
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
        if (value) jar.set(name, value);
        else jar.delete(name);
      }
    };
    const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const page = await main().request('/account/sign-in');
    keep(page);
    const html = await page.text();
    const nonce = page.headers.get('content-security-policy')?.match(/script-src 'nonce-([^']+)'/)?.[1];
    expect(nonce).toBeTruthy();
    expect(html).toContain(`<script nonce="${nonce}">`);
    const csrf = html.match(/name="csrf" value="([^"]+)"/)?.[1];
    const signIn = await main().request('/account/sign-in', {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
        cookie: cookie(),
      },
      body: new URLSearchParams({ csrf: csrf!, email, password: PASSWORD, device_name: 'Contract browser' }),
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('/account/sessions');
    keep(signIn);
    const devices = await main().request('/account/sessions', { headers: { cookie: cookie() } });
    expect(devices.status).toBe(200);
    expect(await devices.text()).toContain('Contract browser');
  });

  it('DPoP (RFC 9449): a login bound to the proof key, calls and refreshes that prove it, the rest refused', async () => {
    const issuer = (await call(main(), '/.well-known/oauth-authorization-server')).json.issuer as string;
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const proof = async (method: string, path: string, accessToken?: string) =>
      new SignJWT({
        jti: crypto.randomUUID(),
        htm: method,
        htu: `${issuer}${path}`,
        iat: Math.floor(Date.now() / 1000),
        ...(accessToken ? { ath: await sha256Base64url(accessToken) } : {}),
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
    const { email } = await registerUser(main());
    const bound = await call(main(), '/v1/auth/login', {
      body: { email, password: PASSWORD },
      headers: { dpop: await proof('POST', '/v1/auth/login') },
    });
    expect(bound.status, JSON.stringify(bound.json)).toBe(200);
    expect(bound.json.token_type).toBe('DPoP');
    expect(decodeJwtPart(bound.json.access_token, 1).cnf).toEqual({ jkt: await calculateJwkThumbprint(jwk) });
    const at = bound.json.access_token as string;
    const meProof = await proof('GET', '/v1/users/me', at);
    const me = await call(main(), '/v1/users/me', {
      headers: { authorization: `DPoP ${at}`, dpop: meProof },
    });
    expect(me.status).toBe(200);
    const replayed = await call(main(), '/v1/users/me', {
      headers: { authorization: `DPoP ${at}`, dpop: meProof },
    });
    expect(replayed.status).toBe(401);
    expect(replayed.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
    const asBearer = await call(main(), '/v1/users/me', { token: at });
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
    const stolen = await refresh(main(), bound.json.refresh_token);
    expect(stolen.status).toBe(400);
    expect(stolen.json.error).toBe('invalid_dpop_proof');
    const next = await call(main(), '/v1/auth/refresh', {
      body: { refresh_token: bound.json.refresh_token },
      headers: { dpop: await proof('POST', '/v1/auth/refresh') },
    });
    expect(next.status, JSON.stringify(next.json)).toBe(200);
    expect(next.json.token_type).toBe('DPoP');
  });

  it('the JWKS and the metadata are served', async () => {
    const jwks = await call(main(), '/.well-known/jwks.json');
    expect(jwks.json.keys.length).toBeGreaterThan(0);
    const metadata = await call(main(), '/.well-known/oauth-authorization-server');
    expect(metadata.json.token_endpoint).toMatch(/\/oauth\/token$/);
    expect((await call(main(), '/health')).json).toEqual({ status: 'ok' });
  });
});
