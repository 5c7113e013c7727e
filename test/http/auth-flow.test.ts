import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, decodeJwtPart, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

describe('register', () => {
  it('creates a user with a normalised email and answers 201', async () => {
    const email = uniqueEmail('Norm');
    const res = await call(lk.app, '/v1/auth/register', {
      body: { email: `  ${email.toUpperCase()} `, password: PASSWORD, name: 'Ada' },
    });
    expect(res.status).toBe(201);
    expect(res.json.user).toMatchObject({ email: email.toLowerCase(), name: 'Ada' });
    expect(res.json.user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(res.json.user.created_at).toISOString()).toBe(res.json.user.created_at);
  });

  it('answers 409 email_taken for the same mailbox in another case', async () => {
    const { email } = await registerUser(lk.app);
    const res = await call(lk.app, '/v1/auth/register', {
      body: { email: email.toUpperCase(), password: PASSWORD },
    });
    expect(res.status).toBe(409);
    expect(res.json.error).toBe('email_taken');
  });

  it('refuses passwords shorter than 8 or longer than 128 characters', async () => {
    for (const password of ['short', 'x'.repeat(129)]) {
      const res = await call(lk.app, '/v1/auth/register', { body: { email: uniqueEmail(), password } });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_password');
    }
  });
});

describe('password policy', () => {
  it.each(['password123', 'Password1!', 'qwertyuiop', 'iloveyou2024', '12345678', 'aaaaaaaaaaaa'])(
    'refuses the common password %s',
    async (password) => {
      const res = await call(lk.app, '/v1/auth/register', { body: { email: uniqueEmail(), password } });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_password');
    },
  );

  it('penalises the email as a context word', async () => {
    const email = uniqueEmail('marguerite');
    const local = email.split('@')[0]!;
    const res = await call(lk.app, '/v1/auth/register', { body: { email, password: `${local}1` } });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_password');
  });

  it('accepts a passphrase with no composition rules', async () => {
    const res = await call(lk.app, '/v1/auth/register', {
      body: { email: uniqueEmail(), password: 'purple elephants dance at noon' },
    });
    expect(res.status).toBe(201);
  });

  it('applies to a new password too', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const res = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'password123' },
      token: pair.access_token,
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_password');
  });

  it('can be turned off with PASSWORD_MIN_SCORE=0 (length rules stay)', async () => {
    const lenient = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { PASSWORD_MIN_SCORE: '0' },
    });
    expect(
      (
        await call(lenient.app, '/v1/auth/register', {
          body: { email: uniqueEmail(), password: 'password123' },
        })
      ).status,
    ).toBe(201);
    expect(
      (await call(lenient.app, '/v1/auth/register', { body: { email: uniqueEmail(), password: 'short' } }))
        .status,
    ).toBe(400);
  });
});

describe('login', () => {
  it('returns the token pair of the contract with no-store', async () => {
    const { email } = await registerUser(lk.app);
    const res = await call(lk.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.json).sort()).toEqual(
      [
        'access_token',
        'expires_in',
        'refresh_token',
        'refresh_token_expires_in',
        'session_id',
        'token_type',
      ].sort(),
    );
    expect(res.json.token_type).toBe('Bearer');
    expect(res.json.expires_in).toBe(900);
    expect(res.json.refresh_token_expires_in).toBe(24 * 3600); // not remembered: the 24 h session bounds it
    // >= 256 bits of CSPRNG output after the prefix
    expect(res.json.refresh_token).toMatch(/^lkr_[A-Za-z0-9_-]{43}$/);
  });

  it('gives unknown email and wrong password the same 401 body', async () => {
    const { email } = await registerUser(lk.app);
    const wrong = await call(lk.app, '/v1/auth/login', { body: { email, password: 'not the password' } });
    const unknown = await call(lk.app, '/v1/auth/login', {
      body: { email: uniqueEmail(), password: PASSWORD },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toEqual(unknown.json);
    expect(wrong.json.error).toBe('invalid_credentials');
  });

  it('a remembered session lives 30 days per refresh token', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email, { remember: true });
    expect(pair.refresh_token_expires_in).toBe(30 * 24 * 3600);
  });
});

describe('password hashes', () => {
  const storedHash = async (email: string) =>
    rowsOf<{ password_hash: string }>(
      await database.current.db.execute(sql`SELECT password_hash FROM users WHERE email = ${email}`),
    )[0]!.password_hash;

  it('are argon2id PHC strings, never the password', async () => {
    const { email } = await registerUser(lk.app);
    const hash = await storedHash(email);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,p=1,t=1\$/);
    expect(hash).not.toContain(PASSWORD);
  });

  it('are upgraded at the next login when the parameters change', async () => {
    const { email } = await registerUser(lk.app);
    const stronger = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { ARGON2_TIME_COST: '2' },
    });
    await login(stronger.app, email);
    expect(await storedHash(email)).toMatch(/^\$argon2id\$v=19\$m=1024,p=1,t=2\$/);
    // The old parameters still verify the upgraded hash: PHC strings carry their parameters.
    await login(lk.app, email);
  });
});

describe('access token', () => {
  it('carries every RFC 9068 claim of the contract', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email, { client_id: 'spa-web' });
    const header = decodeJwtPart(pair.access_token, 0);
    const claims = decodeJwtPart(pair.access_token, 1);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(typeof header.kid).toBe('string');
    expect(claims).toMatchObject({
      iss: 'http://localhost:3000',
      sub: id,
      aud: 'http://localhost:3000',
      client_id: 'spa-web',
      sid: pair.session_id,
      acr: 'aal1',
      amr: ['pwd'],
    });
    expect(claims.exp - claims.iat).toBe(900);
    expect(claims.auth_time).toBe(claims.iat);
    expect(typeof claims.jti).toBe('string');
  });

  it('verifies against /.well-known/jwks.json with node:crypto, not jose', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const jwks = await call(lk.app, '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    const header = decodeJwtPart(pair.access_token, 0);
    const jwk = jwks.json.keys.find((key: { kid: string }) => key.kid === header.kid);
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwk.d).toBeUndefined(); // never a private part
    const [h, p, s] = pair.access_token.split('.');
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    expect(cryptoVerify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s!, 'base64url'))).toBe(true);
    const tampered = Buffer.from(`${h}.${p}x`);
    expect(cryptoVerify(null, tampered, key, Buffer.from(s!, 'base64url'))).toBe(false);
  });

  it('opens /v1/users/me and is refused once expired', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const me = await call(lk.app, '/v1/users/me', { token: pair.access_token });
    expect(me.status).toBe(200);
    expect(me.json.user).toMatchObject({ id, email, mfa_enabled: false });
    lk.clock.advance(901_000 + 5_000);
    const late = await call(lk.app, '/v1/users/me', { token: pair.access_token });
    expect(late.status).toBe(401);
    expect(late.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    expect(late.json.error).toBe('invalid_token');
  });
});

describe('hostile and malformed input', () => {
  it.each([
    ['malformed JSON', { rawBody: '{"email": ', headers: { 'content-type': 'application/json' } }],
    ['missing fields', { body: {} }],
    ['wrong types', { body: { email: 42, password: ['x'] } }],
    ['a JSON array', { body: [1, 2] }],
    ['an empty body', { rawBody: '', headers: { 'content-type': 'application/json' } }],
  ])('login with %s is a 400 with a JSON error', async (_label, options) => {
    const res = await call(lk.app, '/v1/auth/login', { method: 'POST', ...options });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_request');
    expect(typeof res.json.error_description).toBe('string');
  });

  it('a body that is not JSON is a 415', async () => {
    const res = await call(lk.app, '/v1/auth/login', {
      rawBody: 'email=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(res.json.error).toBe('unsupported_media_type');
  });

  it('a body over 64 KiB is a 413', async () => {
    const res = await call(lk.app, '/v1/auth/register', {
      body: { email: uniqueEmail(), password: PASSWORD, name: 'x'.repeat(70 * 1024) },
    });
    expect(res.status).toBe(413);
    expect(res.json.error).toBe('payload_too_large');
  });

  it('a declared length over 64 KiB is a 413 before the body is read; a declared small one passes', async () => {
    const big = await lk.app.request('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(70 * 1024) },
      body: '{}',
    });
    expect(big.status).toBe(413);
    expect(big.headers.get('connection')).toBe('close');
    const body = JSON.stringify({ email: uniqueEmail(), password: PASSWORD });
    const small = await lk.app.request('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      body,
    });
    expect(small.status).toBe(201);
  });

  it('a garbage refresh token is invalid_grant, not a 500', async () => {
    for (const token of ['', 'x', `lkr_${'a'.repeat(43)}`, "'; DROP TABLE users; --"]) {
      const res = await refresh(lk.app, token);
      expect([400, 401]).toContain(res.status);
    }
  });

  it('an unknown route is a JSON 404', async () => {
    const res = await call(lk.app, '/v1/nope');
    expect(res.status).toBe(404);
    expect(res.json.error).toBe('not_found');
  });

  it('health answers ok', async () => {
    const res = await call(lk.app, '/health');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'ok' });
  });
});
