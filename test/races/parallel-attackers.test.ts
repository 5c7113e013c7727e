import { describe, expect, it } from 'vitest';
import { createArgon2Hasher } from '../../src/adapters/password/argon2-native.js';
import type { PasswordHasher } from '../../src/ports/password-hasher.js';
import type { Store } from '../../src/ports/store.js';
import { resetTools } from '../http/password-reset-harness.js';
import { call, login, registerUser } from '../support/client.js';
import { onPostgres } from '../support/database.js';
import {
  buildLatchkey,
  countingStore,
  type Latchkey,
  PASSWORD,
  testConfig,
  uniqueEmail,
  useDatabase,
} from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';

/**
 * Attackers are parallel (issue #15 §1): for every limit, N requests sent at once (N well
 * above the limit), and an assertion that at most the limit was EVALUATED, whatever the
 * interleaving: password hashes verified, codes checked, dead tokens looked into. Each
 * attempt must be counted atomically before the work; a check-then-count lets all N in.
 * Real concurrency needs PostgreSQL (CI runs this file there); on PGlite the requests
 * still overlap at every await, and the bounds hold the same.
 */
const database = useDatabase();

/** A hasher that counts verifications: a password guess evaluated is one verify. */
function countingHasher(): { hasher: PasswordHasher; verifies: () => number } {
  const base = createArgon2Hasher(testConfig().argon2);
  let verifies = 0;
  return {
    hasher: {
      hash: (password) => base.hash(password),
      needsRehash: (hash) => base.needsRehash(hash),
      verify: (hash, password) => {
        verifies++;
        return base.verify(hash, password);
      },
    },
    verifies: () => verifies,
  };
}

async function server(env: Record<string, string>, watch?: Map<string, number>) {
  const counting = countingHasher();
  const lk = await buildLatchkey(database.current, {
    env: { TRUSTED_IP_HEADER: 'x-forwarded-for', ...env },
    hasher: counting.hasher,
    ...(watch ? { wrapStore: (store: Store) => countingStore(store, watch) } : {}),
  });
  return { lk, verifies: counting.verifies };
}

let ipCounter = 1;
const freshIp = () => `198.51.${100 + Math.floor(ipCounter / 250)}.${(ipCounter++ % 250) + 1}`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });
const statuses = (responses: { status: number }[]) => {
  const counts: Record<number, number> = {};
  for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
};
const all = <T>(n: number, make: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: n }, (_, i) => make(i)));

const loginFrom = (lk: Latchkey, email: string, password: string, ip: string) =>
  call(lk.app, '/v1/auth/login', { body: { email, password }, headers: from(ip) });

/** A user with TOTP on; returns what a test needs to sign in and to compute codes. */
async function userWithMfa(lk: Latchkey) {
  const { email, id } = await registerUser(lk.app);
  const pair = await login(lk.app, email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  const secret: string = enrolled.json.secret;
  const codeAt = (steps = 0) =>
    totp(base32Decode(secret), Math.floor(lk.clock.now().getTime() / 1000) + steps * 30);
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeAt() },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  lk.clock.advance(30_000); // the activation code is used: later codes come from later steps
  const valid = () => new Set([-1, 0, 1].map((steps) => codeAt(steps)));
  const wrongCodes = (n: number) => {
    const good = valid();
    const codes: string[] = [];
    for (let i = 0; codes.length < n; i++) {
      const code = String(100000 + i * 7919).slice(-6);
      if (!good.has(code)) codes.push(code);
    }
    return codes;
  };
  return { email, id, pair, codeAt, wrongCodes };
}

async function mfaToken(lk: Latchkey, email: string, ip = freshIp()): Promise<string> {
  const res = await loginFrom(lk, email, PASSWORD, ip);
  expect(res.json.mfa_required).toBe(true);
  return res.json.mfa_token;
}

describe(`parallel attackers (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('30 wrong passwords at once against one account from one network: at most 10 are hashed', async () => {
    const { lk, verifies } = await server({ LOGIN_FAILURES_PER_ACCOUNT: '10' });
    const { email } = await registerUser(lk.app);
    const before = verifies();
    const ip = freshIp();
    const answers = await all(30, () => loginFrom(lk, email, 'wrong password guess', ip));
    expect(verifies() - before).toBeLessThanOrEqual(10);
    expect(statuses(answers)).toEqual({ 401: 10, 429: 20 });
  });

  it('40 right passwords at once: every one logs in (counting and giving back never deadlock)', async () => {
    const { lk } = await server({ LOGIN_FAILURES_PER_ACCOUNT: '1000', MAX_SESSIONS_PER_USER: '100' });
    const { email } = await registerUser(lk.app);
    const ip = freshIp();
    const answers = await all(40, () => loginFrom(lk, email, PASSWORD, ip));
    expect(statuses(answers)).toEqual({ 200: 40 });
  });

  it('130 attempts at once from one network over many accounts: at most 100 are hashed', async () => {
    const { lk, verifies } = await server({ LOGIN_FAILURES_PER_IP: '100' });
    const before = verifies();
    const ip = freshIp();
    const answers = await all(130, () => loginFrom(lk, uniqueEmail('spray'), 'wrong password guess', ip));
    expect(verifies() - before).toBeLessThanOrEqual(100);
    expect(statuses(answers)).toEqual({ 401: 100, 429: 30 });
  });

  it('an IPv6 /64 is one network, and every spelling of an address is one address', async () => {
    const { lk, verifies } = await server({ LOGIN_FAILURES_PER_ACCOUNT: '10' });
    const { email } = await registerUser(lk.app);
    const before = verifies();
    // 30 addresses of one /64, in upper and lower case and with leading zeros.
    const addresses = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0 ? `2001:DB8:AB:CD::${(i + 1).toString(16)}` : `2001:0db8:00ab:00cd:0:0:${i}:1`,
    );
    const answers = await Promise.all(
      addresses.map((ip) => loginFrom(lk, email, 'wrong password guess', ip)),
    );
    expect(verifies() - before).toBeLessThanOrEqual(10);
    expect(statuses(answers)).toEqual({ 401: 10, 429: 20 });
    // The real password from that /64 is throttled too; from another /64 it logs in.
    expect((await loginFrom(lk, email, PASSWORD, '2001:db8:ab:cd::beef')).status).toBe(429);
    expect((await loginFrom(lk, email, PASSWORD, '2001:db8:ab:ce::1')).status).toBe(200);
  });

  it('::ffff:10.0.0.1 and 10.0.0.1 count as one address', async () => {
    const { lk, verifies } = await server({ LOGIN_FAILURES_PER_ACCOUNT: '4' });
    const { email } = await registerUser(lk.app);
    const before = verifies();
    const answers = await all(12, (i) =>
      loginFrom(lk, email, 'wrong password guess', i % 2 ? '::ffff:10.0.0.1' : '10.0.0.1'),
    );
    expect(verifies() - before).toBeLessThanOrEqual(4);
    expect(statuses(answers)).toEqual({ 401: 4, 429: 8 });
  });

  it('guesses spread over 60 networks hit the account-wide limit, which spares the owner’s own network', async () => {
    const { lk, verifies } = await server({
      LOGIN_FAILURES_PER_ACCOUNT: '10',
      LOGIN_FAILURES_PER_ACCOUNT_ANYWHERE: '20',
    });
    const { email } = await registerUser(lk.app);
    const home = freshIp();
    expect((await loginFrom(lk, email, PASSWORD, home)).status).toBe(200);
    const before = verifies();
    const answers = await all(60, () => loginFrom(lk, email, 'wrong password guess', freshIp()));
    // The owner's earlier success gave its attempt back: 20 guesses are hashed, no more.
    expect(verifies() - before).toBeLessThanOrEqual(20);
    expect(statuses(answers)).toEqual({ 401: 20, 429: 40 });
    // Even the right password from a stranger's network waits; the owner at home does not.
    expect((await loginFrom(lk, email, PASSWORD, freshIp())).status).toBe(429);
    expect((await loginFrom(lk, email, PASSWORD, home)).status).toBe(200);
  });

  it('the owner’s network is recognised whatever spelling it was seen in', async () => {
    const { lk } = await server({ LOGIN_FAILURES_PER_ACCOUNT_ANYWHERE: '5' });
    const { email } = await registerUser(lk.app);
    // Seen first as an IPv4-mapped IPv6 address (a dual-stack socket)...
    const first = await loginFrom(lk, email, PASSWORD, '::ffff:203.0.113.50');
    expect(first.status).toBe(200);
    const sessions = await call(lk.app, '/v1/sessions', { token: first.json.access_token });
    expect(sessions.json.sessions[0].ip_address).toBe('203.0.113.50');
    await all(20, () => loginFrom(lk, email, 'wrong password guess', freshIp()));
    // ...and recognised as plain IPv4 while strangers wait.
    expect((await loginFrom(lk, email, PASSWORD, freshIp())).status).toBe(429);
    expect((await loginFrom(lk, email, PASSWORD, '203.0.113.50')).status).toBe(200);
  });

  it('20 mfa_tokens x 5 wrong codes at once: at most the per-user limit of codes is checked', async () => {
    const watch = new Map<string, number>();
    const { lk } = await server({ MFA_FAILURES_PER_USER: '10', LOGIN_FAILURES_PER_ACCOUNT: '1000' }, watch);
    const user = await userWithMfa(lk);
    const tokens = await all(20, () => mfaToken(lk, user.email));
    const codes = user.wrongCodes(100);
    // The right code is among the guesses, sent as guess #78 (as in the attack that worked).
    codes[77] = user.codeAt();
    watch.clear();
    const answers = await all(100, (i) =>
      call(lk.app, '/v1/auth/login/mfa', { body: { mfa_token: tokens[i % 20], code: codes[i] } }),
    );
    // Each checked code reads the factor once.
    expect(watch.get('findTotpFactor') ?? 0).toBeLessThanOrEqual(10);
    const counts = statuses(answers);
    expect((counts[401] ?? 0) + (counts[200] ?? 0)).toBeLessThanOrEqual(10);
    expect(counts[429]).toBeGreaterThanOrEqual(90);
    // Whether guess #78 got in depends on which 10 ran first; it is one of at most 10 checks.
  });

  it('one mfa_token with 20 codes at once: at most 5 are checked, and the token is then dead', async () => {
    const watch = new Map<string, number>();
    const { lk } = await server({ MFA_FAILURES_PER_USER: '1000', LOGIN_FAILURES_PER_ACCOUNT: '1000' }, watch);
    const user = await userWithMfa(lk);
    const token = await mfaToken(lk, user.email);
    const codes = user.wrongCodes(20);
    watch.clear();
    const answers = await all(20, (i) =>
      call(lk.app, '/v1/auth/login/mfa', { body: { mfa_token: token, code: codes[i] } }),
    );
    expect(watch.get('findTotpFactor') ?? 0).toBeLessThanOrEqual(5);
    expect(answers.filter((answer) => answer.json.error === 'invalid_code')).toHaveLength(5);
    expect(answers.filter((answer) => answer.json.error === 'invalid_mfa_token')).toHaveLength(15);
    // Even the right code cannot use it now.
    const late = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: token, code: user.codeAt() },
    });
    expect(late.json.error).toBe('invalid_mfa_token');
  });

  it('step-up: 30 wrong codes and 30 wrong passwords at once check at most the per-user limit', async () => {
    const watch = new Map<string, number>();
    const { lk } = await server({ MFA_FAILURES_PER_USER: '10' }, watch);
    const user = await userWithMfa(lk);
    const codes = user.wrongCodes(30);
    watch.clear();
    const byCode = await all(30, (i) =>
      call(lk.app, '/v1/auth/step-up', { body: { code: codes[i] }, token: user.pair.access_token }),
    );
    expect(watch.get('findTotpFactor') ?? 0).toBeLessThanOrEqual(10);
    expect(statuses(byCode)).toEqual({ 403: 10, 429: 20 });

    const other = await server({ MFA_FAILURES_PER_USER: '10' });
    const { email } = await registerUser(other.lk.app);
    const pair = await login(other.lk.app, email);
    const before = other.verifies();
    const byPassword = await all(30, () =>
      call(other.lk.app, '/v1/auth/step-up', {
        body: { password: 'not the password' },
        token: pair.access_token,
      }),
    );
    expect(other.verifies() - before).toBeLessThanOrEqual(10);
    expect(statuses(byPassword)).toEqual({ 403: 10, 429: 20 });
  });

  it('TOTP activation: 30 wrong codes at once check at most the per-user limit', async () => {
    const { lk } = await server({ MFA_FAILURES_PER_USER: '10' });
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
    expect(enrolled.status).toBe(200);
    const now = Math.floor(lk.clock.now().getTime() / 1000);
    const valid = new Set(
      [-1, 0, 1].map((steps) => totp(base32Decode(enrolled.json.secret), now + steps * 30)),
    );
    const codes = Array.from({ length: 40 }, (_, i) => String(200000 + i * 7919).slice(-6))
      .filter((code) => !valid.has(code))
      .slice(0, 30);
    const answers = await Promise.all(
      codes.map((code) =>
        call(lk.app, '/v1/mfa/totp/activate', { body: { code }, token: pair.access_token }),
      ),
    );
    // A code checked and wrong is a 403; a code over the limit is refused before the check.
    expect(statuses(answers)).toEqual({ 403: 10, 429: 20 });
  });

  it('password reset with MFA: 30 wrong codes at once on one link check at most the per-user limit, and the link survives', async () => {
    const { lk } = await server({ MFA_FAILURES_PER_USER: '10', PASSWORD_RESETS_PER_IP: '1000' });
    const { email, id, codeAt, wrongCodes } = await userWithMfa(lk);
    const tools = resetTools(
      () => database.current,
      () => lk.app,
    );
    expect((await tools.forgot(email)).status).toBe(202);
    const token = await tools.latestToken(id);
    const answers = await Promise.all(wrongCodes(30).map((code) => tools.reset({ token, code })));
    // A code checked and wrong is a 401; one over the limit is refused before the check.
    expect(statuses(answers)).toEqual({ 401: 10, 429: 20 });
    // No wrong code used the link up: after the window, the right code finishes the reset.
    lk.clock.advance(901_000);
    expect((await tools.reset({ token, code: codeAt(0) })).status).toBe(204);
  });

  it('password change: 30 wrong current passwords at once, at most 10 hashed, each one an event', async () => {
    const { lk, verifies } = await server({ MFA_FAILURES_PER_USER: '10' });
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const before = verifies();
    const ip = freshIp();
    const answers = await all(30, () =>
      call(lk.app, '/v1/users/me/password', {
        body: { current_password: 'not the password', new_password: 'a brand new passphrase 42' },
        token: pair.access_token,
        headers: { ...from(ip), 'user-agent': 'guesser/1.0' },
      }),
    );
    expect(verifies() - before).toBeLessThanOrEqual(10);
    const counts = statuses(answers);
    expect(counts[429]).toBe(20);
    expect((counts[401] ?? 0) + (counts[403] ?? 0) + (counts[400] ?? 0)).toBe(10);
    const events = await call(lk.app, '/v1/users/me/events?limit=100', { token: pair.access_token });
    const failures = events.json.events.filter(
      (event: { type: string }) => event.type === 'password_change_failed',
    );
    expect(failures).toHaveLength(10);
    expect(failures[0].ip_address).toBe(ip);
    expect(failures[0].user_agent).toBe('guesser/1.0');
  });

  it('30 dead refresh tokens at once from one network: at most the limit are looked into', async () => {
    const watch = new Map<string, number>();
    const { lk } = await server({ REFRESH_FAILURES_PER_IP: '10' }, watch);
    const ip = freshIp();
    watch.clear();
    const answers = await all(30, (i) =>
      call(lk.app, '/v1/auth/refresh', {
        body: { refresh_token: `lkr_${String(i).padStart(43, 'A')}` },
        headers: from(ip),
      }),
    );
    expect(watch.get('findRefreshTokens') ?? 0).toBeLessThanOrEqual(10);
    expect(statuses(answers)).toEqual({ 401: 10, 429: 20 });
  });

  it('30 sign-ups at once from one network: at most the limit are hashed', async () => {
    const watch = new Map<string, number>();
    const counted = await buildLatchkey(database.current, {
      env: { TRUSTED_IP_HEADER: 'x-forwarded-for', REGISTRATIONS_PER_IP: '5' },
      wrapStore: (store) => countingStore(store, watch),
    });
    const ip = freshIp();
    const answers = await all(30, () =>
      call(counted.app, '/v1/auth/register', {
        body: { email: uniqueEmail('burst'), password: PASSWORD },
        headers: from(ip),
      }),
    );
    expect(watch.get('createUser') ?? 0).toBeLessThanOrEqual(5);
    expect(statuses(answers)).toEqual({ 201: 5, 429: 25 });
  });
});
