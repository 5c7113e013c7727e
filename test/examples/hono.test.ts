import { createVerifier } from '@latchkey/verify';
import { beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer } from '../../examples/hono/app.js';
import { appFetch, call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/** examples/hono: a Hono API through the built `@latchkey/verify` (the workspace link to packages/verify). */
const database = useDatabase();
let lk: Latchkey;
let api: ReturnType<typeof createResourceServer>;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  const verifier = createVerifier({
    issuer: lk.config.issuer,
    audience: lk.config.audience,
    fetch: appFetch(lk.app),
    now: () => lk.clock.now().getTime(),
  });
  api = createResourceServer(verifier);
});

const callApi = (path: string, token?: string, method = 'GET') =>
  api.request(path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('examples/hono', () => {
  it('serves /me to a signed-in user and refuses a request without a token', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const me = await callApi('/me', pair.access_token);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user_id: id, session_id: pair.session_id, acr: 'aal1' });

    const anonymous = await callApi('/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('asks a password-only session to step up for /payouts, and lets it through with a second factor', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const denied = await callApi('/payouts', pair.access_token, 'POST');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"');
    expect(denied.headers.get('www-authenticate')).toContain('acr_values="aal2"');

    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    const code = totpCode(enrolled.json.secret, Math.floor(lk.clock.now().getTime() / 1000));
    const activated = await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code },
      token: pair.access_token,
    });
    expect(activated.status).toBe(200);
    const aal2 = (await refresh(lk.app, pair.refresh_token)).json;

    const paid = await callApi('/payouts', aal2.access_token, 'POST');
    expect(paid.status).toBe(201);

    // Five minutes later the same token is too old for a payout: max_age=300.
    lk.clock.advance(301_000);
    const stale = await callApi('/payouts', aal2.access_token, 'POST');
    expect(stale.status).toBe(401);
    expect(stale.headers.get('www-authenticate')).toContain('max_age=300');
  });
});
