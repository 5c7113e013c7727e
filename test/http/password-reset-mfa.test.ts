import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { createPinoLogger } from '../../src/adapters/pino-logger.js';
import { createLatchkeyClient, LatchkeyError } from '../../src/client/index.js';
import { appFetch, call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, uniqueEmail, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';
import { NEW_PASSWORD, resetTools } from './password-reset-harness.js';

/**
 * Password reset, continued (test/http/password-reset.test.ts has the token's life and the
 * limits): a reset does not bypass MFA, hostile bodies, the typed client's methods, and no
 * token in the logs.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
});

const { forgot, reset, latestToken, passwordHashOf, eventTypes } = resetTools(
  () => database.current,
  () => lk.app,
);

describe('a reset of an account with TOTP', () => {
  const codeAt = (secret: string, steps = 0) =>
    totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000) + steps * 30);

  async function userWithMfa(app = lk.app) {
    const user = await registerUser(app);
    const pair = await login(app, user.email);
    const enrolled = await call(app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    const secret: string = enrolled.json.secret;
    const activated = await call(app, '/v1/mfa/totp/activate', {
      body: { code: codeAt(secret) },
      token: pair.access_token,
    });
    expect(activated.status).toBe(200);
    return { user, secret, recoveryCodes: activated.json.recovery_codes as string[] };
  }

  it('needs a code: none → 403 mfa_required, a wrong one → 401 invalid_code, the token stays usable', async () => {
    const { user, secret } = await userWithMfa();
    await forgot(user.email);
    const token = await latestToken(user.id);
    const before = await passwordHashOf(user.id);
    const missing = await reset({ token });
    expect(missing.status).toBe(403);
    expect(missing.json.error).toBe('mfa_required');
    const valid = new Set([-1, 0, 1].map((steps) => codeAt(secret, steps)));
    const wrong = ['000000', '111111', '222222'].find((code) => !valid.has(code))!;
    const refused = await reset({ token, code: wrong });
    expect(refused.status).toBe(401);
    expect(refused.json.error).toBe('invalid_code');
    expect(await passwordHashOf(user.id)).toBe(before);
    expect(await eventTypes(user.id)).toContain('mfa_failed');
    lk.clock.advance(30_000);
    expect((await reset({ token, code: codeAt(secret) })).status).toBe(204);
  });

  it('counts wrong codes with the per-user limit of the MFA login: past it, 429 even for a right code', async () => {
    const { app } = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { MFA_FAILURES_PER_USER: '2', PASSWORD_RESETS_PER_IP: '100000' },
    });
    const { user, secret } = await userWithMfa(app);
    await forgot(user.email, app);
    const token = await latestToken(user.id);
    const valid = new Set([-1, 0, 1].map((steps) => codeAt(secret, steps)));
    const wrong = ['000000', '111111', '222222', '333333'].filter((code) => !valid.has(code));
    expect((await reset({ token, code: wrong[0] }, app)).status).toBe(401);
    expect((await reset({ token, code: wrong[1] }, app)).status).toBe(401);
    lk.clock.advance(30_000);
    const throttled = await reset({ token, code: codeAt(secret) }, app);
    expect(throttled.status).toBe(429);
    expect(throttled.json.error).toBe('rate_limited');
    expect(await eventTypes(user.id)).toContain('mfa_throttled');
  });

  it('takes a recovery code instead', async () => {
    const { user, recoveryCodes } = await userWithMfa();
    await forgot(user.email);
    const token = await latestToken(user.id);
    expect((await reset({ token, recovery_code: recoveryCodes[0] })).status).toBe(204);
  });
});

describe('hostile bodies', () => {
  /** What a reset could change: the users, their tokens, the outbox, the sessions. */
  async function snapshot() {
    const result = await database.current.db.execute(sql`SELECT
      (SELECT string_agg(password_hash, ',' ORDER BY id) FROM users) AS hashes,
      (SELECT count(*) FILTER (WHERE consumed_at IS NULL)::int FROM email_tokens) AS tokens,
      (SELECT count(*)::int FROM outbox) AS mails,
      (SELECT count(*) FILTER (WHERE revoked_at IS NULL)::int FROM refresh_tokens) AS live`);
    return rowsOf(result)[0];
  }

  it('POST /v1/auth/password/reset answers 4xx with a contract error and changes nothing', async () => {
    const user = await registerUser(lk.app);
    await login(lk.app, user.email);
    await forgot(user.email);
    const token = await latestToken(user.id);
    const nasty = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.constantFrom(
        token.slice(0, -1),
        `${token}=`,
        token.replace('lkp_', 'lkr_'),
        ` ${token}`,
        '\u0000',
        '%00',
      ),
      fc.constant('x'.repeat(5000)),
      fc.integer(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.object({ maxDepth: 1 }),
    );
    const body = fc.oneof(
      fc.record(
        {
          token: nasty,
          password: fc.oneof(nasty, fc.constant(NEW_PASSWORD)),
          code: nasty,
          recovery_code: nasty,
        },
        { requiredKeys: [] },
      ),
      fc.json().map((text) => ({ raw: text })),
    );
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const res = await call(
          lk.app,
          '/v1/auth/password/reset',
          'raw' in value
            ? { rawBody: value.raw, headers: { 'content-type': 'application/json' } }
            : { body: value },
        );
        expect(res.status, JSON.stringify(value).slice(0, 200)).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(Object.keys(res.json).sort()).toEqual(['error', 'error_description']);
        expect(res.headers.get('www-authenticate')).toBeNull();
      }),
      { numRuns: 150 },
    );
    expect(await snapshot()).toEqual(before);
    // The real token still works afterwards.
    expect((await reset({ token })).status).toBe(204);
  });
});

describe('the typed client', () => {
  it('forgotPassword and resetPassword, with the error codes of the contract', async () => {
    const user = await registerUser(lk.app);
    const client = createLatchkeyClient({
      baseUrl: 'http://localhost:3000',
      delivery: 'body',
      fetch: appFetch(lk.app),
    });
    await client.forgotPassword(user.email);
    await client.forgotPassword(uniqueEmail('nobody'));
    const token = await latestToken(user.id);
    const refused = await client
      .resetPassword(token.slice(0, 10), NEW_PASSWORD)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LatchkeyError);
    expect(refused).toMatchObject({ status: 400, code: 'invalid_email_token' });
    await client.resetPassword(token, NEW_PASSWORD);
    expect('access_token' in (await client.login(user.email, NEW_PASSWORD))).toBe(true);
  });
});

describe('logs', () => {
  it('never carry the reset token or the new password', async () => {
    const chunks: string[] = [];
    const logger = createPinoLogger('debug', {
      destination: { write: (chunk: string) => chunks.push(chunk) },
    });
    const app = (await buildLatchkey(database.current, { logger, clientIp: '192.0.2.44' })).app;
    const user = await registerUser(app);
    await forgot(user.email, app);
    const token = await latestToken(user.id);
    await reset({ token: token.slice(0, 30) }, app);
    expect((await reset({ token }, app)).status).toBe(204);
    const text = chunks.join('');
    expect(text).toContain('/v1/auth/password/reset');
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(4, 30));
    expect(text).not.toContain(NEW_PASSWORD);
  });
});
