import * as oauth from 'oauth4webapi';
import { beforeAll, describe, expect, it } from 'vitest';
import { appFetch, call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/**
 * Acceptance: an OAuth client library we did not write (oauth4webapi) discovers the
 * server, refreshes through /oauth/token and revokes, without glue.
 */
const database = useDatabase();
let lk: Latchkey;
let as: oauth.AuthorizationServer;
const client: oauth.Client = { client_id: 'default' };
let options: { [oauth.customFetch]: typeof fetch; [oauth.allowInsecureRequests]: true };

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  // The test issuer is http://localhost:3000; production issuers are https.
  options = { [oauth.customFetch]: appFetch(lk.app) as typeof fetch, [oauth.allowInsecureRequests]: true };
  const issuer = new URL(lk.config.issuer);
  as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }),
  );
});

describe('oauth4webapi against Latchkey', () => {
  it('discovers the metadata (RFC 8414)', () => {
    expect(as.issuer).toBe(lk.config.issuer);
    expect(as.token_endpoint).toBe(`${lk.config.issuer}/oauth/token`);
    expect(as.revocation_endpoint).toBe(`${lk.config.issuer}/oauth/revoke`);
    expect(as.introspection_endpoint).toBe(`${lk.config.issuer}/oauth/introspect`);
    expect(as.jwks_uri).toBe(`${lk.config.issuer}/.well-known/jwks.json`);
    expect(as.grant_types_supported).toEqual(['refresh_token']);
  });

  it('refreshes through /oauth/token, rotating the refresh token, then revokes the session', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), pair.refresh_token, options),
    );
    expect(refreshed.token_type).toBe('bearer'); // oauth4webapi lower-cases it
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(pair.refresh_token);
    expect((await call(lk.app, '/v1/users/me', { token: refreshed.access_token })).status).toBe(200);

    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, oauth.None(), refreshed.refresh_token!, options),
    );
    const after = await call(lk.app, '/v1/users/me', { token: refreshed.access_token });
    expect(after.status).toBe(401);

    // The revoked refresh token is refused with a standard RFC 6749 §5.2 error.
    const denied = await oauth.refreshTokenGrantRequest(
      as,
      client,
      oauth.None(),
      refreshed.refresh_token!,
      options,
    );
    await expect(oauth.processRefreshTokenResponse(as, client, denied)).rejects.toMatchObject({
      error: 'invalid_grant',
      status: 400,
    });
  });
});
