import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { emailTokens, outbox } from '../../src/adapters/db/schema.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  TestClock,
  uniqueEmail,
  useDatabase,
} from '../support/harness.js';
import { KEYS, NEW_PASSWORD, resetTools } from './password-reset-harness.js';

/**
 * Password reset (issue #17, flow 1, and "Bad input and abuse"): the same answer for every
 * address, throttling counted before the work, the token's life (single use, 30 minutes,
 * voided by a newer one, a password change, a disable), every session ended, and the mail
 * written to the outbox in the same transaction, sealed. MFA, the typed client and the logs:
 * password-reset-mfa.test.ts.
 */

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  // Every test here asks from the harness's one IP; the per-network limit has its own test.
  lk = await buildLatchkey(database.current, { env: { PASSWORD_RESETS_PER_IP: '100000' } });
});

const MINUTE = 60_000;
const { forgot, reset, mailsOf, latestToken, passwordHashOf, eventTypes } = resetTools(
  () => database.current,
  () => lk.app,
);

describe('POST /v1/auth/password/forgot', () => {
  it('answers 202 with the same body for a known and an unknown address; only the known gets a mail', async () => {
    const user = await registerUser(lk.app);
    const known = await forgot(user.email);
    const rowCount = async () => ({
      mails: (await database.current.db.select().from(outbox)).length,
      tokens: (await database.current.db.select().from(emailTokens)).length,
    });
    const before = await rowCount();
    const unknown = await forgot(uniqueEmail('nobody'));
    // The decoy ran the same statements and left nothing (its savepoint was rolled back).
    expect(await rowCount()).toEqual(before);
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(unknown.json).toEqual(known.json);
    expect(known.json).toEqual({ status: 'accepted' });
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(1);
    const rows = await database.current.db
      .select()
      .from(emailTokens)
      .where(and(eq(emailTokens.userId, user.id), eq(emailTokens.purpose, 'password_reset')));
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
    const mail = await unsealMailMessage(await KEYS, row!.id, row!.payload!);
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
    const clock = new TestClock();
    const { app } = await buildLatchkey(database.current, {
      env: { PASSWORD_RESETS_PER_ADDRESS: '2', PASSWORD_RESETS_PER_IP: '100000' },
      clientIp: '198.51.100.20',
      clock,
    });
    const user = await registerUser(app);
    // A flood at once: the counter is charged atomically before the work, so exactly 2 get through.
    const answers = await Promise.all(Array.from({ length: 8 }, () => forgot(user.email, app)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(202));
    expect(new Set(answers.map((a) => JSON.stringify(a.json))).size).toBe(1);
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(2);
    const stranger = uniqueEmail('flood');
    for (let i = 0; i < 3; i++) expect((await forgot(stranger, app)).status).toBe(202);
    // An hour later the address may have a mail again.
    clock.advance(60 * MINUTE);
    expect((await forgot(user.email, app)).status).toBe(202);
    expect(await mailsOf(user.id, 'password_reset')).toHaveLength(3);
  });

  it('past the per-network limit answers 429, counted atomically before the work', async () => {
    const app = (
      await buildLatchkey(database.current, {
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
    const mail = await unsealMailMessage(await KEYS, notice!.id, notice!.payload!);
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
