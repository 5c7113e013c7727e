import { and, eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { emailTokens, outbox, users } from '../../src/adapters/db/schema.js';
import { createPinoLogger } from '../../src/adapters/pino-logger.js';
import { deriveMasterKeys, type MasterKeys } from '../../src/lib/crypto.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { PASSWORD, TEST_MASTER_SECRET, uniqueEmail, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';
import { buildWithReset, type ResetApp } from './password-reset-harness.js';

/**
 * Password reset (issue #17, flow 1, and "Bad input and abuse"): the same answer for every
 * address, throttling counted before the work, the token's life (single use, 30 minutes,
 * voided by a newer one, a password change, a disable), MFA not bypassed, every session ended,
 * and the mail written to the outbox in the same transaction, sealed.
 */

const database = useDatabase();
let lk: ResetApp;
let keys: MasterKeys;
beforeAll(async () => {
  // Every test here asks from the harness's one IP; the per-network limit has its own test.
  lk = await buildWithReset(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
  keys = await deriveMasterKeys(TEST_MASTER_SECRET);
});

const NEW_PASSWORD = 'seven herons fold paper under violet rain';
const MINUTE = 60_000;

const forgot = (email: string, app = lk.app) => call(app, '/v1/auth/password/forgot', { body: { email } });
const reset = (body: Record<string, unknown>, app = lk.app) =>
  call(app, '/v1/auth/password/reset', { body: { password: NEW_PASSWORD, ...body } });

/** The user's outbox rows of `kind`, oldest first. */
async function mailsOf(userId: string, kind: string) {
  return database.current.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
    .orderBy(outbox.createdAt, outbox.id);
}

/** The token of the user's newest reset mail, read the way the recipient would: from the link. */
async function latestToken(userId: string): Promise<string> {
  const rows = await mailsOf(userId, 'password_reset');
  const row = rows.at(-1)!;
  const mail = await unsealMailMessage(keys, row.id, row.payload!);
  const link = mail.text.match(/http:\/\/localhost:3000\/account\/password\/reset\?token=\S+/)![0];
  return new URL(link).searchParams.get('token')!;
}

const passwordHashOf = async (userId: string) =>
  (await database.current.db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)))[0]!
    .hash;

async function eventTypes(userId: string): Promise<string[]> {
  const result = await database.current.db.execute(
    sql`SELECT type FROM security_events WHERE user_id = ${userId} ORDER BY created_at, type`,
  );
  return rowsOf<{ type: string }>(result).map((row) => row.type);
}

describe('POST /v1/auth/password/forgot', () => {
  it('answers 202 with the same body for a known and an unknown address; only the known gets a mail', async () => {
    const user = await registerUser(lk.app);
    const known = await forgot(user.email);
    const unknown = await forgot(uniqueEmail('nobody'));
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(unknown.json).toEqual(known.json);
    expect(known.json).toEqual({ status: 'accepted' });
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(1);
    const rows = await database.current.db.select().from(emailTokens).where(eq(emailTokens.userId, user.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ purpose: 'password_reset', email: user.email, consumedAt: null });
    expect(rows[0]!.expiresAt.getTime() - rows[0]!.createdAt.getTime()).toBe(30 * MINUTE);
  });

  it('seals the mail: the stored payload has no token in clear, the unsealed one has the link', async () => {
    const user = await registerUser(lk.app);
    await forgot(user.email);
    const [row] = await mailsOf(user.id, 'password_reset');
    const token = await latestToken(user.id);
    expect(token).toMatch(/^lkp_[A-Za-z0-9_-]{43}$/);
    expect(row!.payload).not.toContain(token);
    const mail = await unsealMailMessage(keys, row!.id, row!.payload!);
    expect(mail.to).toBe(user.email);
    expect(mail.html).toContain(`http://localhost:3000/account/password/reset?token=${token}`);
    // Only the hash is kept.
    const stored = await database.current.db
      .select()
      .from(emailTokens)
      .where(eq(emailTokens.userId, user.id));
    expect(JSON.stringify(stored)).not.toContain(token);
  });

  it('past the per-address limit still answers 202 but sends nothing (known and unknown alike)', async () => {
    const app = (await buildWithReset(database.current, { env: { PASSWORD_RESETS_PER_ADDRESS: '2' } })).app;
    const user = await registerUser(app);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await forgot(user.email, app));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(answers.map((a) => JSON.stringify(a.json))).size).toBe(1);
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(2);
    const stranger = uniqueEmail('flood');
    for (let i = 0; i < 3; i++) expect((await forgot(stranger, app)).status).toBe(202);
  });

  it('past the per-network limit answers 429, counted atomically before the work', async () => {
    const app = (
      await buildWithReset(database.current, {
        env: { PASSWORD_RESETS_PER_IP: '3' },
        clientIp: '198.51.100.9',
      })
    ).app;
    const user = await registerUser(app);
    // Ten at once: exactly the limit gets through to the work, however they interleave.
    const answers = await Promise.all(Array.from({ length: 10 }, () => forgot(user.email, app)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.json.error).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // The per-address limit (3 by default) let all three through: three mails, no more.
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(3);
  });

  it('refuses a malformed body with 400 invalid_request', async () => {
    expect((await call(lk.app, '/v1/auth/password/forgot', { body: { email: 'not an email' } })).status).toBe(
      400,
    );
    expect(
      (await call(lk.app, '/v1/auth/password/forgot', { body: { email: 'a'.repeat(5000) } })).status,
    ).toBe(400);
    expect((await call(lk.app, '/v1/auth/password/forgot', { body: {} })).json.error).toBe('invalid_request');
  });

  it('sends nothing for a disabled account (and answers the same)', async () => {
    const user = await registerUser(lk.app);
    await lk.store.disableUser({ userId: user.id, now: lk.clock.now() });
    expect((await forgot(user.email)).json).toEqual({ status: 'accepted' });
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(0);
  });
});

describe('POST /v1/auth/password/reset', () => {
  it('sets the password, ends every session, records the event and queues the notice', async () => {
    const user = await registerUser(lk.app);
    const first = await login(lk.app, user.email);
    const second = await login(lk.app, user.email);
    await forgot(user.email);
    const token = await latestToken(user.id);
    const res = await reset({ token });
    expect(res.status).toBe(204);
    // Old sessions are dead: their refresh tokens are refused.
    expect((await refresh(lk.app, first.refresh_token)).status).toBe(401);
    expect((await refresh(lk.app, second.refresh_token)).status).toBe(401);
    expect((await call(lk.app, '/v1/users/me', { token: first.access_token })).status).toBe(401);
    // The old password is gone, the new one signs in.
    expect(
      (await call(lk.app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } })).status,
    ).toBe(401);
    const fresh = await call(lk.app, '/v1/auth/login', {
      body: { email: user.email, password: NEW_PASSWORD },
    });
    expect(fresh.status).toBe(200);
    expect(await eventTypes(user.id)).toEqual(
      expect.arrayContaining(['password_reset_requested', 'password_reset']),
    );
    const [notice] = await mailsOf(user.id, 'password_changed');
    const mail = await unsealMailMessage(keys, notice!.id, notice!.payload!);
    expect(mail.to).toBe(user.email);
    expect(mail.subject).toContain('password was changed');
  });

  it('refuses expired, used, forged and truncated tokens with 400 invalid_email_token, changing nothing', async () => {
    const user = await registerUser(lk.app);
    await forgot(user.email);
    const token = await latestToken(user.id);
    const before = await passwordHashOf(user.id);
    const forged = `lkp_${'A'.repeat(43)}`;
    for (const bad of [
      forged,
      token.slice(0, -1),
      token.slice(0, 20),
      `${token}x`,
      '',
      'lkr_x',
      token.toUpperCase(),
    ]) {
      const res = await reset({ token: bad });
      expect(res.status, bad).toBe(400);
      expect(res.json.error).toBe('invalid_email_token');
    }
    expect(await passwordHashOf(user.id)).toBe(before);
    // Used: the first reset works, the second changes nothing.
    expect((await reset({ token })).status).toBe(204);
    const after = await passwordHashOf(user.id);
    const again = await reset({ token, password: 'another long passphrase of ours' });
    expect(again.status).toBe(400);
    expect(again.json.error).toBe('invalid_email_token');
    expect(await passwordHashOf(user.id)).toBe(after);
    // Expired: 30 minutes later.
    lk.clock.advance(MINUTE);
    const other = await registerUser(lk.app);
    await forgot(other.email);
    const late = await latestToken(other.id);
    lk.clock.advance(30 * MINUTE);
    expect((await reset({ token: late })).json.error).toBe('invalid_email_token');
  });

  it('applies the password policy of registration, and a refused password leaves the token usable', async () => {
    const user = await registerUser(lk.app);
    await forgot(user.email);
    const token = await latestToken(user.id);
    expect((await reset({ token, password: 'short' })).json.error).toBe('invalid_password');
    expect((await reset({ token, password: 'password123' })).json.error).toBe('invalid_password');
    expect((await reset({ token })).status).toBe(204);
  });

  it('a newer link voids the older one', async () => {
    const user = await registerUser(lk.app);
    await forgot(user.email);
    const older = await latestToken(user.id);
    lk.clock.advance(1000); // so that "the newest mail" is well defined for latestToken
    await forgot(user.email);
    const newer = await latestToken(user.id);
    expect((await reset({ token: older })).json.error).toBe('invalid_email_token');
    expect((await reset({ token: newer })).status).toBe(204);
  });

  it('a password change and a disable void the link', async () => {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    await forgot(user.email);
    const token = await latestToken(user.id);
    lk.clock.advance(1000);
    const changed = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'a brand new and long passphrase' },
      token: pair.access_token,
    });
    expect(changed.status).toBe(204);
    expect((await reset({ token })).json.error).toBe('invalid_email_token');

    const other = await registerUser(lk.app);
    await forgot(other.email);
    const disabledToken = await latestToken(other.id);
    await lk.store.disableUser({ userId: other.id, now: lk.clock.now() });
    await lk.store.enableUser(other.id);
    expect((await reset({ token: disabledToken })).json.error).toBe('invalid_email_token');
  });

  it('two parallel resets with one token: exactly one wins', async () => {
    const user = await registerUser(lk.app);
    await forgot(user.email);
    const token = await latestToken(user.id);
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => reset({ token, password: `${NEW_PASSWORD} ${i}` })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([204, 400, 400, 400, 400]);
    expect(await mailsOf(user.id, 'password_changed')).toHaveLength(1);
  });
});

describe('a reset of an account with TOTP', () => {
  const codeAt = (secret: string, steps = 0) =>
    totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000) + steps * 30);

  async function userWithMfa() {
    const user = await registerUser(lk.app);
    const pair = await login(lk.app, user.email);
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    const secret: string = enrolled.json.secret;
    const activated = await call(lk.app, '/v1/mfa/totp/activate', {
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

  it('takes a recovery code instead', async () => {
    const { user, recoveryCodes } = await userWithMfa();
    await forgot(user.email);
    const token = await latestToken(user.id);
    expect((await reset({ token, recovery_code: recoveryCodes[0] })).status).toBe(204);
  });
});

describe('logs', () => {
  it('never carry the reset token or the new password', async () => {
    const chunks: string[] = [];
    const logger = createPinoLogger('debug', {
      destination: { write: (chunk: string) => chunks.push(chunk) },
    });
    const app = (await buildWithReset(database.current, { logger, clientIp: '192.0.2.44' })).app;
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
