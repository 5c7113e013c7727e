import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../src/adapters/db/schema.js';
import { createLatchkeyClient, LatchkeyError } from '../src/client/index.js';
import { unsealMailMessage } from '../src/services/mail-sealing.js';
import { KEYS } from './http/password-reset-harness.js';
import { appFetch, decodeJwtPart, registerUser } from './support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  type TestClock,
  uniqueEmail,
  useDatabase,
} from './support/harness.js';
import { totpCode } from './support/totp.js';

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

const NEW_PASSWORD = 'a different horse, battery and staple';

/** A client signed in with body delivery; `options` adds to or overrides the defaults. */
async function signedInClient(options: Partial<Parameters<typeof createLatchkeyClient>[0]> = {}) {
  const user = await registerUser(lk.app);
  const browser = browserFetch(lk.app);
  const client = createLatchkeyClient({
    baseUrl: lk.config.issuer,
    delivery: 'body',
    fetch: browser.fetch,
    ...options,
  });
  await client.login(user.email, PASSWORD);
  return { ...user, client, browser };
}

/** The TOTP code of `secret` now, on the server's clock. */
const codeNow = (secret: string) => totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000));

describe('@latchkey/client: register and password change', () => {
  it('registers an account (not signed in), then logs in; a taken address is email_taken', async () => {
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
    });
    const email = uniqueEmail();
    const user = await client.register(email, PASSWORD, 'Ada');
    expect(user).toMatchObject({ email, name: 'Ada' });
    expect(client.accessToken).toBeUndefined();
    expect((await errorOf(client.register(email, PASSWORD)))?.code).toBe('email_taken');
    expect((await errorOf(client.register(uniqueEmail(), 'short')))?.status).toBe(400);
    await client.login(email, PASSWORD);
    expect(await client.me()).toMatchObject({ id: user.id, name: 'Ada', email_verified: false });
  });

  it('changes the password: the current one is checked, other sessions end, this one goes on', async () => {
    const { email, client } = await signedInClient();
    let otherEnded = 0;
    const other = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
      onSessionEnded: () => otherEnded++,
    });
    await other.login(email, PASSWORD);

    const wrong = await errorOf(client.changePassword('not the password', NEW_PASSWORD));
    expect([wrong?.status, wrong?.code]).toEqual([403, 'wrong_password']);
    await client.changePassword(PASSWORD, NEW_PASSWORD);

    expect((await client.me()).email).toBe(email);
    lk.clock.advance(16 * 60 * 1000); // both access tokens expired: each must refresh
    expect((await client.me()).email).toBe(email);
    expect((await errorOf(other.me()))?.code).toBe('invalid_grant');
    expect(otherEnded).toBe(1);
    expect((await errorOf(other.login(email, PASSWORD)))?.code).toBe('invalid_credentials');
    expect('access_token' in (await other.login(email, NEW_PASSWORD))).toBe(true);
  });

  it('renames, and signs out every other session', async () => {
    const { email, client } = await signedInClient();
    const other = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
    });
    await other.login(email, PASSWORD);
    expect((await client.rename('  Grace ')).name).toBe('Grace');
    expect(await client.revokeAllSessions()).toBe(1);
    expect((await client.sessions()).map((session) => session.current)).toEqual([true]);
    expect(await client.revokeAllSessions(true)).toBe(1);
    expect(client.accessToken).toBeUndefined();
  });
});

describe('@latchkey/client: the end of an account, and a login held at the session limit', () => {
  it('deletes the account after a fresh sign-in: signed out, and the address is free again', async () => {
    const { email, client } = await signedInClient();
    lk.clock.advance(301_000);
    expect((await errorOf(client.deleteAccount()))?.challenge).toEqual({ maxAge: 300 });
    await client.stepUp({ password: PASSWORD });
    await client.deleteAccount();
    expect([client.accessToken, client.sessionExpiresAt]).toEqual([undefined, undefined]);
    expect((await errorOf(client.login(email, PASSWORD)))?.code).toBe('invalid_credentials');
    expect((await client.register(email, PASSWORD)).email).toBe(email);
  });

  it('SESSION_LIMIT_POLICY=reject: the error carries limit_token and sessions; finishHeldLogin signs one out', async () => {
    const strict = await buildLatchkey(database.current, {
      env: { SESSION_LIMIT_POLICY: 'reject', MAX_SESSIONS_PER_USER: '1' },
    });
    const { email } = await registerUser(strict.app);
    const options = { baseUrl: strict.config.issuer, delivery: 'body' as const };
    const first = createLatchkeyClient({ ...options, fetch: browserFetch(strict.app).fetch });
    await first.login(email, PASSWORD);
    const second = createLatchkeyClient({ ...options, fetch: browserFetch(strict.app).fetch });
    const held = await errorOf(second.login(email, PASSWORD));
    expect([held?.status, held?.code]).toEqual([409, 'session_limit_reached']);
    const sessions = held?.body.sessions as { id: string }[];
    expect(sessions).toHaveLength(1);
    const pair = await second.finishHeldLogin(held?.body.limit_token as string, sessions[0]!.id);
    expect((await second.sessions()).map((session) => session.id)).toEqual([pair.session_id]);
    expect((await errorOf(first.refresh()))?.code).toBe('invalid_grant');
  });
});

describe('@latchkey/client: step-up (RFC 9470)', () => {
  it('a stale sign-in gets the challenge as a typed error; stepUp with the password answers it', async () => {
    const { client } = await signedInClient();
    lk.clock.advance(301_000);
    const challenged = await errorOf(client.enrollTotp());
    expect([challenged?.status, challenged?.code]).toEqual([401, 'insufficient_user_authentication']);
    expect(challenged?.challenge).toEqual({ maxAge: 300 });

    expect((await errorOf(client.stepUp({ password: 'not the password' })))?.code).toBe('wrong_password');
    const pair = await client.stepUp({ password: PASSWORD });
    expect(decodeJwtPart(pair.access_token, 1)).toMatchObject({
      acr: 'aal1',
      auth_time: lk.clock.now().getTime() / 1000,
    });
    expect((await client.enrollTotp()).otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
    // The step-up rotated the refresh token: the client keeps the new one.
    expect(decodeJwtPart(await client.refresh(), 1).sid).toBe(pair.session_id);
  });

  it('onStepUpRequired: the app is asked once, the client steps up and sends the call again', async () => {
    const challenges: unknown[] = [];
    const { client, browser } = await signedInClient({
      onStepUpRequired: async (challenge) => {
        challenges.push(challenge);
        return { password: PASSWORD };
      },
    });
    lk.clock.advance(301_000);
    browser.paths.length = 0;
    expect((await client.enrollTotp()).secret).toBeTruthy();
    expect(challenges).toEqual([{ maxAge: 300 }]);
    expect(browser.paths).toEqual(['/v1/mfa/totp/enroll', '/v1/auth/step-up', '/v1/mfa/totp/enroll']);
  });

  it('onStepUpRequired resolving undefined (the user cancelled) throws the challenge', async () => {
    let asked = 0;
    const { client } = await signedInClient({
      onStepUpRequired: async () => {
        asked++;
        return undefined;
      },
    });
    lk.clock.advance(301_000);
    expect((await errorOf(client.enrollTotp()))?.code).toBe('insufficient_user_authentication');
    expect(asked).toBe(1);
  });

  it('cookie delivery: the step-up replaces the cookie, and the next refresh is no replay', async () => {
    const { email } = await registerUser(lk.app);
    const browser = browserFetch(lk.app);
    const client = createLatchkeyClient({ baseUrl: lk.config.issuer, fetch: browser.fetch });
    await client.login(email, PASSWORD);
    const before = browser.jar.get(lk.config.refreshCookieName);
    lk.clock.advance(301_000);
    const pair = await client.stepUp({ password: PASSWORD });
    expect(pair.refresh_token).toBeUndefined();
    expect(browser.jar.get(lk.config.refreshCookieName)).not.toBe(before);
    lk.clock.advance(16 * 60 * 1000);
    expect((await client.me()).email).toBe(email);
  });
});

describe('@latchkey/client: MFA enrolment', () => {
  it('enrols, activates (the session becomes aal2), logs in with a code, renews recovery codes, disables', async () => {
    const { email, client } = await signedInClient();
    const enrollment = await client.enrollTotp();
    expect(enrollment.qr_svg).toContain('<svg');
    expect((await errorOf(client.activateTotp('000000')))?.code).toBe('wrong_code');

    const codes = await client.activateTotp(codeNow(enrollment.secret));
    expect(codes).toHaveLength(10);
    expect((await client.me()).mfa_enabled).toBe(true);
    expect(decodeJwtPart(client.accessToken!, 1).acr).toBe('aal2'); // me() fetched a new token
    expect((await errorOf(client.enrollTotp()))?.code).toBe('mfa_already_enabled');

    const renewed = await client.regenerateRecoveryCodes();
    expect(renewed).toHaveLength(10);
    expect(renewed).not.toEqual(codes);

    const phone = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
    });
    const first = await phone.login(email, PASSWORD);
    if (!('mfa_required' in first)) throw new Error('expected mfa_required');
    expect(first.methods).toEqual(['totp', 'recovery_code']);
    expect((await errorOf(phone.loginMfa(first.mfa_token, { recoveryCode: codes[0]! })))?.code).toBe(
      'invalid_code',
    ); // the old codes stopped working
    const pair = await phone.loginMfa(first.mfa_token, { recoveryCode: renewed[0]! });
    expect(decodeJwtPart(pair.access_token, 1).acr).toBe('aal2');

    lk.clock.advance(301_000); // disabling needs a fresh aal2 sign-in
    expect((await errorOf(client.disableTotp()))?.challenge).toEqual({ maxAge: 300 });
    lk.clock.advance(30_000); // the next TOTP step: a code is accepted once
    await client.stepUp({ code: codeNow(enrollment.secret) });
    await client.disableTotp();
    expect((await client.me()).mfa_enabled).toBe(false);
    expect((await errorOf(phone.me()))?.code).toBe('invalid_grant'); // every other session ended
  });

  it('a password step-up is not aal2: disabling still asks, for acr_values', async () => {
    const { client } = await signedInClient();
    const { secret } = await client.enrollTotp();
    await client.activateTotp(codeNow(secret));
    lk.clock.advance(301_000);
    await client.stepUp({ password: PASSWORD });
    const error = await errorOf(client.disableTotp());
    expect(error?.challenge?.acrValues).toBe('aal2');
  });
});

/** Timers on the test clock: `advance` moves the clock and runs what fell due, in order. */
function fakeTimers(clock: TestClock) {
  const timers = new Set<{ at: number; run: () => void }>();
  const setTimer = (run: () => void, ms: number) => {
    const timer = { at: clock.now().getTime() + ms, run };
    timers.add(timer);
    return () => void timers.delete(timer);
  };
  const advance = (ms: number) => {
    const until = clock.now().getTime() + ms;
    for (;;) {
      const next = [...timers].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      clock.advance(Math.max(0, next.at - clock.now().getTime()));
      timers.delete(next);
      next.run();
    }
    clock.advance(until - clock.now().getTime());
  };
  return { setTimer, timers, advance };
}

describe('@latchkey/client: the expiry warning', () => {
  const DAY = 24 * 3600 * 1000;
  const expiringClient = async (extra: Partial<Parameters<typeof createLatchkeyClient>[0]> = {}) => {
    const timers = fakeTimers(lk.clock);
    const warnings: { expiresAt: Date; secondsLeft: number }[] = [];
    const user = await registerUser(lk.app);
    const client = createLatchkeyClient({
      baseUrl: lk.config.issuer,
      delivery: 'body',
      fetch: browserFetch(lk.app).fetch,
      now: () => lk.clock.now().getTime(),
      setTimer: timers.setTimer,
      onSessionExpiring: (info) => warnings.push(info),
      ...extra,
    });
    return { ...user, client, timers, warnings };
  };

  it('warns 5 minutes before the absolute end (SESSION_TTL), once, whatever the refreshes in between', async () => {
    const { email, client, timers, warnings } = await expiringClient();
    const start = lk.clock.now().getTime();
    await client.login(email, PASSWORD);
    const end = start + DAY; // SESSION_TTL: 1 day by default
    expect(client.sessionExpiresAt?.getTime()).toBe(end);
    expect(timers.timers.size).toBe(1);

    timers.advance(DAY - 301_000);
    await client.refresh(); // a refresh re-arms for the same end
    expect(timers.timers.size).toBe(1);
    timers.advance(1_000);
    expect(warnings).toEqual([{ expiresAt: new Date(end), secondsLeft: 300 }]);

    timers.advance(60_000);
    await client.refresh(); // within the window: the same end is not announced again
    timers.advance(60_000);
    expect(warnings).toHaveLength(1);
    expect(timers.timers.size).toBe(0);

    timers.advance(180_000); // the end: the session is over
    expect((await errorOf(client.refresh()))?.code).toBe('invalid_grant');
    expect(client.sessionExpiresAt).toBeUndefined();
  });

  it('expiryWarningSeconds sets the lead; logout clears the warning', async () => {
    const { email, client, timers, warnings } = await expiringClient({ expiryWarningSeconds: 3600 });
    const start = lk.clock.now().getTime();
    await client.login(email, PASSWORD);
    timers.advance(DAY - 3_600_000);
    expect(warnings).toEqual([{ expiresAt: new Date(start + DAY), secondsLeft: 3600 }]);

    await client.login(email, PASSWORD); // a new session: a new end, a new warning
    expect(timers.timers.size).toBe(1);
    await client.logout();
    expect(timers.timers.size).toBe(0);
    timers.advance(DAY);
    expect(warnings).toHaveLength(1);
  });

  it('a refused refresh (the session revoked elsewhere) clears the warning', async () => {
    let ended = 0;
    const { email, client, timers, warnings } = await expiringClient({ onSessionEnded: () => ended++ });
    await client.login(email, PASSWORD);
    await client.revokeSession((await client.sessions())[0]!.id);
    expect((await errorOf(client.refresh()))?.code).toBe('invalid_grant');
    expect([ended, timers.timers.size]).toEqual([1, 0]);
    timers.advance(DAY);
    expect(warnings).toEqual([]);
  });

  it('a remembered session: the end moves with each refresh until the absolute end binds; long waits go in steps', async () => {
    const { email, client, timers, warnings } = await expiringClient();
    const start = lk.clock.now().getTime();
    await client.login(email, PASSWORD, { remember: true });
    // REFRESH_TOKEN_TTL (30 days) binds before SESSION_REMEMBER_TTL (90 days)
    expect(client.sessionExpiresAt?.getTime()).toBe(start + 30 * DAY);
    const [timer] = [...timers.timers];
    expect(timer!.at - start).toBe(2 ** 31 - 1); // setTimeout's longest wait, then another step
    timers.advance(29 * DAY);
    expect(warnings).toEqual([]);
    expect(timers.timers.size).toBe(1);

    for (const _day of [29, 58]) {
      await client.refresh(); // a new end 30 days on: the warning moves with it
      expect(timers.timers.size).toBe(1);
      timers.advance(29 * DAY);
    }
    await client.refresh(); // day 87: the absolute end (day 90) now caps the refresh token
    expect(client.sessionExpiresAt?.getTime()).toBe(start + 90 * DAY);
    expect(warnings).toEqual([]);
    timers.advance(3 * DAY - 300_000);
    expect(warnings).toEqual([{ expiresAt: new Date(start + 90 * DAY), secondsLeft: 300 }]);
  });

  it('without onSessionExpiring no timer is set', async () => {
    const { email, client, timers } = await expiringClient({ onSessionExpiring: undefined });
    await client.login(email, PASSWORD);
    expect(timers.timers.size).toBe(0);
  });
});
