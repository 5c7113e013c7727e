/**
 * A consumer of the packed packages on Node (.ci/packages.sh copies this folder into a fresh
 * project that installs the tarballs, compiles it with its strict tsconfig and runs
 * `node out/node-smoke.js <latchkey url>`): a real account on a real Latchkey, its access token
 * verified by the kit (plain, framework-free helpers, Hono middleware, revocation feed) and the
 * client used with body delivery. Exits non-zero on the first broken promise.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { createLatchkeyClient, LatchkeyError } from '@latchkey/client';
import {
  type AccessTokenClaims,
  authenticateRequest,
  BearerError,
  createVerifier,
  errorResponseFor,
} from '@latchkey/verify';
import { type AccessTokenVariables, requireAccessToken } from '@latchkey/verify/hono';
import { Hono } from 'hono';

const base = process.argv[2];
if (!base) throw new Error('usage: node out/node-smoke.js <latchkey url>');

interface TokenPairBody {
  access_token: string;
  refresh_token?: string;
  session_id: string;
}

async function call(path: string, body: unknown, expected: number): Promise<unknown> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, expected, `${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

// An account, and a login through the HTTP API (docs/API.md).
const email = `node-${randomBytes(6).toString('hex')}@packed.example`;
const password = `Packed proof ${randomBytes(12).toString('base64url')}`;
const { user } = (await call('/v1/auth/register', { email, password, name: 'Packed' }, 201)) as {
  user: { id: string; email: string };
};
const pair = (await call('/v1/auth/login', { email, password, delivery: 'body' }, 200)) as TokenPairBody;

// The kit: the token verified offline against the server's JWKS.
const verifier = createVerifier({ issuer: base, audience: base });
const claims: Readonly<AccessTokenClaims> = await verifier.verify(pair.access_token);
assert.equal(claims.sub, user.id);
assert.equal(claims.sid, pair.session_id);
assert.equal(claims.acr, 'aal1');

// Framework-free helpers: a header in, claims or an RFC 6750 answer out.
assert.equal((await authenticateRequest(verifier, `Bearer ${pair.access_token}`)).sub, user.id);
const refusal = await authenticateRequest(verifier, 'Bearer not-a-token').then(
  () => assert.fail('a bad token was accepted'),
  (error: unknown) => error,
);
assert.ok(refusal instanceof BearerError);
const answer = errorResponseFor(refusal);
assert.equal(answer?.status, 401);
assert.match(
  answer?.headers['www-authenticate'] ?? answer?.headers['WWW-Authenticate'] ?? '',
  /invalid_token/,
);
const stepUp = await authenticateRequest(verifier, `Bearer ${pair.access_token}`, { acr: 'aal2' }).then(
  () => assert.fail('aal1 passed an aal2 requirement'),
  (error: unknown) => errorResponseFor(error),
);
assert.equal(stepUp?.status, 401);

// The Hono middleware.
const app = new Hono<{ Variables: AccessTokenVariables }>();
app.get('/me', requireAccessToken(verifier), (c) => c.json({ sub: c.get('accessToken').sub }));
const ok = await app.request('/me', { headers: { authorization: `Bearer ${pair.access_token}` } });
assert.equal(ok.status, 200);
assert.deepEqual(await ok.json(), { sub: user.id });
const anonymous = await app.request('/me');
assert.equal(anonymous.status, 401);
assert.ok(anonymous.headers.get('www-authenticate')?.startsWith('Bearer'));

// The client, as a mobile app or a server would use it: body delivery and a store.
let stored: string | undefined;
const client = createLatchkeyClient({
  baseUrl: base,
  delivery: 'body',
  refreshTokenStore: {
    get: () => stored,
    set: (token) => {
      stored = token;
    },
  },
});
const login = await client.login(email, password, { deviceName: 'packed node smoke' });
assert.ok('access_token' in login, 'no MFA on this account: a token pair');
assert.ok(stored, 'the refresh token went to the store');
const me = await client.me();
assert.equal(me.id, user.id);
assert.equal(me.email, email);
const clientToken = client.accessToken;
assert.ok(clientToken);
assert.equal((await verifier.verify(clientToken)).sub, user.id);
await client.refresh();
assert.notEqual(client.accessToken, clientToken, 'refresh gave a new access token');
const wrong = await createLatchkeyClient({ baseUrl: base, delivery: 'body' })
  .login(email, `${password}!`)
  .then(
    () => assert.fail('a wrong password logged in'),
    (error: unknown) => error,
  );
assert.ok(wrong instanceof LatchkeyError);
assert.equal(wrong.code, 'invalid_credentials');

// Logout revokes the session: the kit refuses its tokens once it has read the feed.
const loggedOutToken = client.accessToken;
assert.ok(loggedOutToken);
await client.logout();
await verifier.refreshRevocations();
await verifier.verify(loggedOutToken).then(
  () => assert.fail('the token of a revoked session was accepted'),
  (error: unknown) => assert.ok(error instanceof BearerError, String(error)),
);
// The first session is still good.
assert.equal((await verifier.verify(pair.access_token)).sub, user.id);

console.log(`node ${process.version}: kit and client ok against ${base} (user ${user.id})`);
