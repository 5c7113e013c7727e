import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../src/adapters/db/schema.js';
import { createLatchkeyClient, LatchkeyError } from '../src/client/index.js';
import { unsealMailMessage } from '../src/services/mail-sealing.js';
import { KEYS } from './http/password-reset-harness.js';
import { appFetch, decodeJwtPart, registerUser } from './support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from './support/harness.js';

/** `latchkey/client`: refresh on 401, single flight, both deliveries. */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

/** The app as a browser on https://app.example.com would reach it: Origin set, cookies kept. */
function browserFetch(app: Latchkey['app']) {
  const jar = new Map<string, string>();
  const paths: string[] = [];
  const fetch = async (input: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('origin', 'https://app.example.com');
    if (jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    paths.push(new URL(input).pathname);
    const response = await appFetch(app)(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = pair!.split('=');
      if (value) jar.set(name!, value);
      else jar.delete(name!);
    }
    return response;
  };
  return { fetch, jar, paths };
}

describe('@latchkey/client', () => {
  it('body delivery: logs in, and parallel calls after expiry share one refresh', async () => {
    const { email, id } = await registerUser(lk.app);
    const browser = browserFetch(lk.app);
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browser.fetch,
    });
    const pair = await client.login(email, PASSWORD);
    expect('access_token' in pair).toBe(true);
    expect((await client.me()).id).toBe(id);

    lk.clock.advance(16 * 60 * 1000); // the access token has expired
    browser.paths.length = 0;
    const users = await Promise.all(Array.from({ length: 5 }, () => client.me()));
    expect(users.map((user) => user.id)).toEqual(Array(5).fill(id));
    expect(browser.paths.filter((path) => path === '/v1/auth/refresh')).toHaveLength(1);
    expect(browser.paths.filter((path) => path === '/v1/users/me')).toHaveLength(10);
  });

  it('cookie delivery: JS never holds the refresh token; the cookie refreshes', async () => {
    const { email, id } = await registerUser(lk.app);
    const browser = browserFetch(lk.app);
    const client = createLatchkeyClient({ baseUrl: lk.config.issuer, fetch: browser.fetch });
    const pair = await client.login(email, PASSWORD);
    expect('refresh_token' in pair && pair.refresh_token).toBeFalsy();
    expect([...browser.jar.keys()]).toEqual([lk.config.refreshCookieName]);
    lk.clock.advance(16 * 60 * 1000);
    expect((await client.me()).id).toBe(id);
    expect((await client.sessions()).length).toBe(1);
    await client.logout();
    expect(browser.jar.size).toBe(0);
  });

  it('a refused refresh ends the session: onSessionEnded, and a typed error', async () => {
    const { email } = await registerUser(lk.app);
    let ended = 0;
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
      onSessionEnded: () => ended++,
    });
    await client.login(email, PASSWORD);
    const sessions = await client.sessions();
    await client.revokeSession(sessions[0]!.id);
    const error = await client.me().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LatchkeyError);
    expect((error as LatchkeyError).code).toBe('invalid_grant');
    expect(ended).toBe(1);
  });

  it('passes a step-up challenge through, and reports a wrong password as a typed error', async () => {
    const { email } = await registerUser(lk.app);
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
    });
    await client.login(email, PASSWORD);
    lk.clock.advance(301_000); // enrolling needs a fresh login: the server asks for a step-up
    const enroll = await client.fetch('/v1/mfa/totp/enroll', { method: 'POST' });
    expect(enroll.status).toBe(401);
    expect(enroll.headers.get('www-authenticate')).toContain('max_age=300');
    const wrong = await client.login(email, 'not the password').catch((caught: unknown) => caught);
    expect((wrong as LatchkeyError).code).toBe('invalid_credentials');
  });
});

/** The token of the user's newest mail of `kind`, read the way the recipient would: from its link. */
async function linkToken(userId: string, kind: string, page: string): Promise<string> {
  const rows = await database.current.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
    .orderBy(outbox.createdAt, outbox.id);
  const row = rows.at(-1)!;
  const mail = await unsealMailMessage(await KEYS, row.id, row.payload!);
  const prefix = `http://localhost:3000/account/email/${page}?token=`;
  const link = mail.text.split(/\s/).find((word) => word.startsWith(prefix))!;
  return new URL(link).searchParams.get('token')!;
}

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (caught: unknown) => caught as LatchkeyError,
  );

describe('latchkey/client: the email address', () => {
  const signedIn = async (onSessionEnded?: () => void) => {
    const user = await registerUser(lk.app);
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
      ...(onSessionEnded ? { onSessionEnded } : {}),
    });
    await client.login(user.email, PASSWORD);
    return { ...user, client };
  };

  it('verifies the address with the link of the sign-up mail, once; me() and the next access token say so', async () => {
    const { email, id, client } = await signedIn();
    expect((await client.me()).email_verified).toBe(false);
    const token = await linkToken(id, 'verify_email', 'verify');
    expect(token.startsWith('lkv_')).toBe(true);

    expect(await client.verifyEmail(token)).toEqual({ email, email_verified: true });
    expect((await client.me()).email_verified).toBe(true);
    expect(decodeJwtPart(await client.refresh(), 1).email_verified).toBe(true);

    const reused = await errorOf(client.verifyEmail(token));
    expect(reused).toBeInstanceOf(LatchkeyError);
    expect([reused?.status, reused?.code]).toEqual([400, 'invalid_email_token']);
  });

  it('asks for a new verification link: the same answer for an unknown address; the new link works, the old one is void', async () => {
    const { email, id, client } = await signedIn();
    const first = await linkToken(id, 'verify_email', 'verify');
    lk.clock.advance(60_000); // the new mail is the newest row by its time, not by a random id
    await expect(client.resendVerification(uniqueEmail())).resolves.toBeUndefined();
    await expect(client.resendVerification(email)).resolves.toBeUndefined();
    const second = await linkToken(id, 'verify_email', 'verify');
    expect(second).not.toBe(first);
    expect((await errorOf(client.verifyEmail(first)))?.code).toBe('invalid_email_token');
    expect((await client.verifyEmail(second)).email).toBe(email);
  });

  it('changes the address: the password is checked, the new address confirms, me() has it', async () => {
    const { id, client } = await signedIn();
    const next = uniqueEmail();
    const wrong = await errorOf(client.changeEmail(next, 'not the password'));
    expect(wrong?.code).toBe('wrong_password');

    expect(await client.changeEmail(next, PASSWORD)).toEqual({
      status: 'confirmation_sent',
      pending_email: next,
    });
    expect((await client.me()).email).not.toBe(next); // nothing changes before the confirmation
    const token = await linkToken(id, 'confirm_email_change', 'confirm');
    expect(await client.confirmEmailChange(token)).toEqual({ email: next, email_verified: true });
    expect((await client.me()).email).toBe(next);
  });

  it('a stale sign-in gets the step-up challenge as a typed error, and nothing is sent', async () => {
    const { id, client } = await signedIn();
    lk.clock.advance(301_000); // FRESH_AUTH_SECONDS is 300
    const error = await errorOf(client.changeEmail(uniqueEmail(), PASSWORD));
    expect([error?.status, error?.code]).toEqual([401, 'insufficient_user_authentication']);
    expect(error?.wwwAuthenticate).toContain('max_age=300');
    const confirmations = await database.current.db
      .select()
      .from(outbox)
      .where(and(eq(outbox.userId, id), eq(outbox.kind, 'confirm_email_change')));
    expect(confirmations).toHaveLength(0);
  });

  it('an address another account took meanwhile: confirming answers 409 email_taken', async () => {
    const { id, client } = await signedIn();
    const next = uniqueEmail();
    await client.changeEmail(next, PASSWORD);
    await registerUser(lk.app, next);
    const error = await errorOf(
      client.confirmEmailChange(await linkToken(id, 'confirm_email_change', 'confirm')),
    );
    expect([error?.status, error?.code]).toEqual([409, 'email_taken']);
  });

  it('"this wasn\'t me": the revert link puts the old address back and signs out every session, this client\'s too', async () => {
    let ended = 0;
    const { email, id, client } = await signedIn(() => ended++);
    const next = uniqueEmail();
    await client.changeEmail(next, PASSWORD);
    await client.confirmEmailChange(await linkToken(id, 'confirm_email_change', 'confirm'));

    const revert = await linkToken(id, 'email_change_notice', 'revert');
    expect(revert.startsWith('lkr_')).toBe(true);
    expect(await client.revertEmailChange(revert)).toEqual({
      email,
      email_verified: true,
      revoked_sessions: 1,
    });
    expect((await errorOf(client.me()))?.code).toBe('invalid_grant');
    expect(ended).toBe(1);
    expect((await errorOf(client.revertEmailChange(revert)))?.code).toBe('invalid_email_token');
  });
});
