import { beforeAll, describe, expect, it } from 'vitest';
import { REFRESH_SUMMARY_MS } from '../../src/http/request-log.js';
import type { Logger } from '../../src/ports/logger.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';

const database = useDatabase();
const lines: Record<string, unknown>[] = [];
const capture: Logger = {
  debug: (msg, fields) => lines.push({ level: 'debug', msg, ...fields }),
  info: (msg, fields) => lines.push({ level: 'info', msg, ...fields }),
  warn: (msg, fields) => lines.push({ level: 'warn', msg, ...fields }),
  error: (msg, fields) => lines.push({ level: 'error', msg, ...fields }),
};
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    logger: capture,
    env: { TRUSTED_IP_HEADER: 'x-forwarded-for', LOCATION_HEADERS: 'cf-ipcountry' },
  });
});

const eventsOf = async (accessToken: string) =>
  (await call(lk.app, '/v1/users/me/events?limit=100', { token: accessToken })).json.events as {
    type: string;
    details: Record<string, unknown>;
  }[];

describe('logs', () => {
  it('a full flow logs each request with its id, route, status and user, and never a secret', async () => {
    lines.length = 0;
    const { email } = await registerUser(lk.app);
    await call(lk.app, '/v1/auth/login', { body: { email, password: 'wrong password' } });
    const pair = await login(lk.app, email);
    const next = await refresh(lk.app, pair.refresh_token);
    await call(lk.app, '/v1/sessions', { token: next.json.access_token });
    await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'violet lanterns over harbour' },
      token: next.json.access_token,
    });

    const text = JSON.stringify(lines);
    for (const secret of [
      PASSWORD,
      'wrong password',
      'violet lanterns over harbour',
      pair.refresh_token,
      next.json.refresh_token,
      pair.access_token,
      next.json.access_token,
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('203.0.113.7');
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.length).toBe(6);
    // A successful refresh is logged at debug only; at info it is counted in the summary.
    expect(requests.filter((line) => line.level === 'debug').map((line) => line.route)).toEqual([
      '/v1/auth/refresh',
    ]);
    for (const line of requests) {
      expect(line.request_id).toEqual(expect.any(String));
      expect(line.status).toEqual(expect.any(Number));
      expect(line.latency_ms).toEqual(expect.any(Number));
    }
    expect(requests.find((line) => line.route === '/v1/sessions')).toMatchObject({
      status: 200,
      user_id: expect.any(String),
      session_id: next.json.session_id,
    });
    const eventLines = lines.filter((line) => line.msg === 'security event');
    const requestIds = new Set(requests.map((line) => line.request_id));
    for (const line of eventLines) expect(requestIds.has(line.request_id)).toBe(true);
    const events = eventLines.map((line) => line.type);
    expect(events).toEqual(['user_registered', 'login_failed', 'login_succeeded', 'password_changed']);
  });
});

describe('the refresh summary', () => {
  it('counts successful refreshes in one info line a minute; a failed one keeps its own line', async () => {
    const { email } = await registerUser(lk.app);
    const first = await refresh(lk.app, (await login(lk.app, email)).refresh_token);
    lk.clock.advance(REFRESH_SUMMARY_MS); // the window that started before this test is over
    lines.length = 0;
    const second = await refresh(lk.app, first.json.refresh_token);
    const summary = lines.filter((line) => line.msg === 'refresh summary');
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({
      level: 'info',
      refreshes: expect.any(Number),
      seconds: expect.any(Number),
      latency_ms_mean: expect.any(Number),
      latency_ms_max: expect.any(Number),
    });
    expect(summary[0]!.refreshes as number).toBeGreaterThanOrEqual(2);
    expect(lines.filter((line) => line.msg === 'request' && line.level === 'info')).toEqual([]);

    // The next minute: two more successes, then a failure, which is logged on its own at once.
    lines.length = 0;
    const third = await refresh(lk.app, second.json.refresh_token);
    await refresh(lk.app, third.json.refresh_token);
    lk.clock.advance(REFRESH_SUMMARY_MS);
    await call(lk.app, '/v1/auth/refresh', { body: { refresh_token: 'not-a-token' } });
    expect(lines.filter((line) => line.msg === 'request' && line.level === 'info')).toMatchObject([
      { route: '/v1/auth/refresh', status: 401 },
    ]);
    expect(lines.filter((line) => line.msg === 'refresh summary')).toEqual([]);
    await refresh(lk.app, (await login(lk.app, email)).refresh_token);
    expect(lines.filter((line) => line.msg === 'refresh summary')).toMatchObject([{ refreshes: 3 }]);
  });
});

describe('new devices and places', () => {
  const loginFrom = (email: string, userAgent: string, country: string) => {
    lk.clock.advance(1000); // events of one instant have no order between them
    return login(
      lk.app,
      email,
      {},
      { 'user-agent': userAgent, 'cf-ipcountry': country, 'x-forwarded-for': '192.0.2.1' },
    );
  };

  it('marks a login from a device or country the user has not used before', async () => {
    const { email } = await registerUser(lk.app);
    await loginFrom(email, 'Firefox/130 on Linux', 'FR');
    await loginFrom(email, 'Firefox/130 on Linux', 'FR');
    await loginFrom(email, 'Safari/18 on iPhone', 'FR');
    const last = await loginFrom(email, 'Safari/18 on iPhone', 'BR');
    const logins = (await eventsOf(last.access_token))
      .filter((event) => event.type === 'login_succeeded')
      .reverse();
    expect(logins.map((event) => [event.details.new_device, event.details.new_location])).toEqual([
      [true, true],
      [false, false],
      [true, false],
      [false, true],
    ]);
    expect(logins[3]!.details.location).toBe('BR');
  });

  it('marks a login at a time of day the account never signs in at, once it has history (domain/unusual-time.ts)', async () => {
    const HOUR = 3600 * 1000;
    const DAY = 24 * HOUR;
    const { email } = await registerUser(lk.app);
    // Put the clock at the next 09:00 UTC, a day at a time after that.
    const now = lk.clock.now().getTime();
    lk.clock.advance(DAY - (now % DAY) + 9 * HOUR);
    const unusualOf = async () => {
      const pair = await login(lk.app, email);
      const [latest] = (await eventsOf(pair.access_token)).filter(
        (event) => event.type === 'login_succeeded',
      );
      return latest!.details.unusual_time;
    };
    // A new account: every hour is new, and nothing is unusual yet.
    expect(await unusualOf()).toBe(false);
    lk.clock.advance(12 * HOUR); // 21:00, with one sign-in of history
    expect(await unusualOf()).toBe(false);
    for (let day = 0; day < 9; day++) {
      lk.clock.advance(12 * HOUR); // 09:00 the next day
      expect(await unusualOf()).toBe(false);
      lk.clock.advance(12 * HOUR); // and back to 21:00
    }
    // Twenty sign-ins of history, all at 09:00 or 21:00.
    lk.clock.advance(6 * HOUR); // 03:00
    expect(await unusualOf()).toBe(true);
    lk.clock.advance(6 * HOUR + 50 * 60 * 1000); // 09:50: within the hour of 09:00
    expect(await unusualOf()).toBe(false);
    lk.clock.advance(14 * HOUR + 30 * 60 * 1000); // 00:20 the next day: 21:00 is more than an hour away...
    expect(await unusualOf()).toBe(true);
    lk.clock.advance(23 * HOUR + 20 * 60 * 1000); // ...but 23:40 the day after is near 00:20 (a circle)
    expect(await unusualOf()).toBe(false);
  });

  it('failed and throttled logins appear in the user’s log', async () => {
    const strict = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { LOGIN_FAILURES_PER_ACCOUNT: '2' },
    });
    const { email } = await registerUser(strict.app);
    for (let i = 0; i < 3; i++) {
      lk.clock.advance(1000);
      await call(strict.app, '/v1/auth/login', { body: { email, password: 'wrong guess' } });
    }
    lk.clock.advance(16 * 60_000);
    const pair = await login(strict.app, email);
    const types = (await eventsOf(pair.access_token)).map((event) => event.type);
    expect(types).toEqual([
      'login_succeeded',
      'login_throttled',
      'login_failed',
      'login_failed',
      'user_registered',
    ]);
  });
});
