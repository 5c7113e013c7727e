import { beforeAll, describe, expect, it } from 'vitest';
import { call, registerUser } from '../support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  TestClock,
  uniqueEmail,
  useDatabase,
} from '../support/harness.js';

const database = useDatabase();
const clock = new TestClock();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    clock,
    env: {
      TRUSTED_IP_HEADER: 'x-forwarded-for',
      LOGIN_FAILURES_PER_ACCOUNT: '3',
      LOGIN_FAILURES_PER_IP: '6',
    },
  });
});

const MINUTE = 60_000;
let ipCounter = 1;
const freshIp = () => `198.51.100.${ipCounter++}`;

const attempt = (email: string, password: string, ip: string) =>
  call(lk.app, '/v1/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': ip } });

describe('credential guessing', () => {
  it('wrong passwords for one account from one IP are answered 429 with Retry-After, before any hashing', async () => {
    const { email } = await registerUser(lk.app);
    const ip = freshIp();
    for (let i = 0; i < 3; i++) expect((await attempt(email, 'wrong password', ip)).status).toBe(401);
    const throttled = await attempt(email, PASSWORD, ip);
    expect(throttled.status).toBe(429);
    expect(throttled.json.error).toBe('rate_limited');
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
  });

  it('the throttle lifts when the window has passed', async () => {
    const { email } = await registerUser(lk.app);
    const ip = freshIp();
    for (let i = 0; i < 3; i++) await attempt(email, 'wrong password', ip);
    expect((await attempt(email, PASSWORD, ip)).status).toBe(429);
    clock.advance(15 * MINUTE + 1000);
    expect((await attempt(email, PASSWORD, ip)).status).toBe(200);
  });

  it('a guesser on another IP cannot lock the owner out', async () => {
    const { email } = await registerUser(lk.app);
    const attacker = freshIp();
    for (let i = 0; i < 5; i++) await attempt(email, 'wrong password', attacker);
    expect((await attempt(email, PASSWORD, attacker)).status).toBe(429);
    expect((await attempt(email, PASSWORD, freshIp())).status).toBe(200);
  });

  it('unknown accounts are counted like real ones (no enumeration through the throttle)', async () => {
    const ip = freshIp();
    const email = uniqueEmail('ghost');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await attempt(email, 'wrong password', ip)).status);
    expect(answers).toEqual([401, 401, 401, 429]);
  });

  it('one IP spraying many accounts is throttled per IP, and a success does not erase its count', async () => {
    const ip = freshIp();
    const victims = await Promise.all(Array.from({ length: 6 }, () => registerUser(lk.app)));
    const owner = await registerUser(lk.app);
    // 5 failures, then a success from the same IP, then 1 more failure: the IP reaches 6.
    for (const victim of victims.slice(0, 5))
      expect((await attempt(victim.email, 'nope nope', ip)).status).toBe(401);
    expect((await attempt(owner.email, PASSWORD, ip)).status).toBe(200);
    expect((await attempt(victims[5]!.email, 'nope nope', ip)).status).toBe(401);
    const blocked = await attempt(owner.email, PASSWORD, ip);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a success clears the account counter for that IP', async () => {
    const { email } = await registerUser(lk.app);
    const ip = freshIp();
    for (let i = 0; i < 2; i++) await attempt(email, 'wrong password', ip);
    expect((await attempt(email, PASSWORD, ip)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await attempt(email, 'wrong password', ip)).status).toBe(401);
    expect((await attempt(email, PASSWORD, ip)).status).toBe(200);
  });
});

describe('other abuse limits', () => {
  it('sign-ups per IP are limited (every attempt counts), with Retry-After', async () => {
    const limited = await buildLatchkey(database.current, {
      clock,
      env: { TRUSTED_IP_HEADER: 'x-forwarded-for', REGISTRATIONS_PER_IP: '3' },
    });
    const ip = freshIp();
    const register = (email: string) =>
      call(limited.app, '/v1/auth/register', {
        body: { email, password: PASSWORD },
        headers: { 'x-forwarded-for': ip },
      });
    // REGISTRATIONS_PER_IP=3: three sign-ups go through, the fourth waits.
    for (let i = 0; i < 3; i++) expect((await register(uniqueEmail())).status).toBe(201);
    const fourth = await register(uniqueEmail());
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another IP is not affected; the limit lifts after an hour.
    const other = await call(limited.app, '/v1/auth/register', {
      body: { email: uniqueEmail(), password: PASSWORD },
      headers: { 'x-forwarded-for': freshIp() },
    });
    expect(other.status).toBe(201);
    clock.advance(61 * MINUTE);
    expect((await register(uniqueEmail())).status).toBe(201);
  });

  it('failed refreshes per IP turn into 429, while a good refresh from that IP still works', async () => {
    const limited = await buildLatchkey(database.current, {
      clock,
      env: { TRUSTED_IP_HEADER: 'x-forwarded-for', REFRESH_FAILURES_PER_IP: '3' },
    });
    const ip = freshIp();
    const { email } = await registerUser(limited.app);
    const pair = await call(limited.app, '/v1/auth/login', { body: { email, password: PASSWORD } });
    const refreshFrom = (token: string) =>
      call(limited.app, '/v1/auth/refresh', {
        body: { refresh_token: token },
        headers: { 'x-forwarded-for': ip },
      });
    const guess = `lkr_${'A'.repeat(43)}`;
    // REFRESH_FAILURES_PER_IP=3: three failures are looked into, the fourth is refused unread.
    for (let i = 0; i < 3; i++) expect((await refreshFrom(guess)).status).toBe(401);
    const fourth = await refreshFrom(guess);
    expect(fourth.status).toBe(429);
    expect(fourth.json.error).toBe('rate_limited');
    expect((await refreshFrom(pair.json.refresh_token)).status).toBe(200);
  });
});
