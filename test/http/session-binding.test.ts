import { describe, expect, it } from 'vitest';
import { bindingMismatches, userAgentFamily } from '../../src/domain/session-binding.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';

/** SESSION_BINDING: off (default), warn, strict. */
const database = useDatabase();

const CHROME_120 =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_121 = CHROME_120.replace('Chrome/120', 'Chrome/121');
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0';

async function server(mode: string): Promise<Latchkey> {
  // The client IP comes from X-Forwarded-For here, so a test can move between networks.
  return buildLatchkey(database.current, {
    env: { SESSION_BINDING: mode, TRUSTED_IP_HEADER: 'x-forwarded-for' },
  });
}

const from = (ip: string, userAgent = CHROME_120) => ({ 'x-forwarded-for': ip, 'user-agent': userAgent });

async function signIn(lk: Latchkey, ip = '203.0.113.7', userAgent = CHROME_120) {
  const { email } = await registerUser(lk.app);
  return login(lk.app, email, {}, from(ip, userAgent));
}

const refreshFrom = (lk: Latchkey, token: string, headers: Record<string, string>) =>
  call(lk.app, '/v1/auth/refresh', { body: { refresh_token: token }, headers });

async function bindingEvents(lk: Latchkey, accessToken: string) {
  const res = await call(lk.app, '/v1/users/me/events', { token: accessToken });
  return res.json.events.filter((event: { type: string }) => event.type === 'session_binding_mismatch');
}

describe('binding rules', () => {
  const policy = { mode: 'strict' as const, ipv4Prefix: 24, ipv6Prefix: 48 };
  it('compares networks by prefix, IPv4-mapped IPv6 as IPv4, and browser families without versions', () => {
    const at = (ipAddress: string, userAgent = CHROME_120) => ({ ipAddress, userAgent });
    expect(bindingMismatches(at('203.0.113.7'), at('203.0.113.200'), policy)).toEqual([]);
    expect(bindingMismatches(at('203.0.113.7'), at('198.51.100.7'), policy)).toEqual(['network']);
    expect(bindingMismatches(at('203.0.113.7'), at('::ffff:203.0.113.9'), policy)).toEqual([]);
    expect(bindingMismatches(at('2001:db8:1::1'), at('2001:db8:1:ff::2'), policy)).toEqual([]);
    expect(bindingMismatches(at('2001:db8:1::1'), at('2001:db8:2::1'), policy)).toEqual(['network']);
    expect(bindingMismatches(at('203.0.113.7'), at('2001:db8:1::1'), policy)).toEqual(['network']);
    expect(bindingMismatches(at('203.0.113.7'), at('203.0.113.7', CHROME_121), policy)).toEqual([]);
    expect(bindingMismatches(at('203.0.113.7'), at('203.0.113.7', FIREFOX), policy)).toEqual(['user_agent']);
    // A missing attribute is a mismatch: stripping the User-Agent must not skip the check.
    expect(bindingMismatches(at('203.0.113.7'), { ipAddress: null, userAgent: null }, policy)).toEqual([
      'network',
      'user_agent',
    ]);
    expect(
      bindingMismatches({ ipAddress: null, userAgent: null }, { ipAddress: null, userAgent: null }, policy),
    ).toEqual([]);
    expect(bindingMismatches(at('203.0.113.7'), at('198.51.100.7'), { ...policy, mode: 'off' })).toEqual([]);
    expect(userAgentFamily(CHROME_120)).toBe('Chrome/Windows');
  });
});

describe('SESSION_BINDING=off (default)', () => {
  it('lets a refresh from anywhere through, and records nothing', async () => {
    const lk = await server('off');
    const pair = await signIn(lk);
    const res = await refreshFrom(lk, pair.refresh_token, from('198.51.100.7', FIREFOX));
    expect(res.status).toBe(200);
    expect(await bindingEvents(lk, res.json.access_token)).toEqual([]);
  });
});

describe('SESSION_BINDING=warn', () => {
  it('records a mismatch and goes on; the same /24 and a browser update are no mismatch', async () => {
    const lk = await server('warn');
    const pair = await signIn(lk);
    const same = await refreshFrom(lk, pair.refresh_token, from('203.0.113.99', CHROME_121));
    expect(same.status).toBe(200);
    expect(await bindingEvents(lk, same.json.access_token)).toEqual([]);

    const moved = await refreshFrom(lk, same.json.refresh_token, from('198.51.100.7', FIREFOX));
    expect(moved.status).toBe(200);
    const events = await bindingEvents(lk, moved.json.access_token);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      session_id: pair.session_id,
      ip_address: '198.51.100.7',
      details: { mismatches: ['network', 'user_agent'], mode: 'warn' },
    });
    // The session now lives on the new network: the next refresh from there is no mismatch.
    const next = await refreshFrom(lk, moved.json.refresh_token, from('198.51.100.8', FIREFOX));
    expect(next.status).toBe(200);
    expect(await bindingEvents(lk, next.json.access_token)).toHaveLength(1);
  });
});

describe('SESSION_BINDING=strict', () => {
  it('refuses a refresh from another network and ends the session', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const other = await login(lk.app, (await registerUser(lk.app)).email, {}, from('203.0.113.7'));
    const stolen = await refreshFrom(lk, pair.refresh_token, from('198.51.100.7'));
    expect(stolen.status).toBe(401);
    expect(stolen.json.error).toBe('invalid_grant');
    expect(stolen.json.error_description).toContain('bound to another network');
    // The session is over for its owner too: the old access token and any refresh fail.
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(401);
    expect((await refreshFrom(lk, pair.refresh_token, from('203.0.113.7'))).status).toBe(401);
    // Other users' sessions are untouched.
    expect((await refreshFrom(lk, other.refresh_token, from('203.0.113.8'))).status).toBe(200);
  });

  it('refuses another browser family, accepts the same one updated, and records the event', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const updated = await refreshFrom(lk, pair.refresh_token, from('203.0.113.7', CHROME_121));
    expect(updated.status).toBe(200);
    const keep = await login(
      lk.app,
      (await call(lk.app, '/v1/users/me', { token: pair.access_token })).json.user.email,
      {},
      from('203.0.113.7'),
    );
    const firefox = await refreshFrom(lk, updated.json.refresh_token, from('203.0.113.7', FIREFOX));
    expect(firefox.status).toBe(401);
    const events = await bindingEvents(lk, keep.access_token);
    expect(events[0]).toMatchObject({ details: { mismatches: ['user_agent'], mode: 'strict' } });
  });
});

describe('SESSION_BINDING on every path that hands out tokens (issue #15 §5)', () => {
  it('strict: a replay of the old token inside the grace window from another network gets no token and ends the session', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const rotated = await refreshFrom(lk, pair.refresh_token, from('203.0.113.7'));
    expect(rotated.status).toBe(200);
    // A thief replays the rotated token at once, from elsewhere: the grace branch must bind too.
    const thief = await refreshFrom(lk, pair.refresh_token, from('198.51.100.7', FIREFOX));
    expect(thief.status).toBe(401);
    expect(thief.json.refresh_token).toBeUndefined();
    expect((await refreshFrom(lk, rotated.json.refresh_token, from('203.0.113.7'))).status).toBe(401);
  });

  it('warn: a grace-window replay from another network is recorded', async () => {
    const lk = await server('warn');
    const pair = await signIn(lk);
    const rotated = await refreshFrom(lk, pair.refresh_token, from('203.0.113.7'));
    const replay = await refreshFrom(lk, pair.refresh_token, from('198.51.100.7'));
    expect(replay.status).toBe(200);
    const events = await bindingEvents(lk, rotated.json.access_token);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ ip_address: '198.51.100.7', details: { mismatches: ['network'] } });
  });

  it('strict: a refresh without a User-Agent is a mismatch, not a way around the check', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const res = await call(lk.app, '/v1/auth/refresh', {
      body: { refresh_token: pair.refresh_token },
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_grant');
  });

  it('strict: a refresh with no readable client address is a mismatch', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const res = await refreshFrom(lk, pair.refresh_token, from('not-an-address'));
    expect(res.status).toBe(401);
  });

  it('strict: /oauth/token from another network is refused like /v1/auth/refresh', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const res = await lk.app.request('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...from('198.51.100.7') },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pair.refresh_token }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('invalid_grant');
    expect((await refreshFrom(lk, pair.refresh_token, from('203.0.113.7'))).status).toBe(401);
  });

  it('strict: a step-up from another network gets no tokens and ends the session', async () => {
    const lk = await server('strict');
    const pair = await signIn(lk);
    const res = await call(lk.app, '/v1/auth/step-up', {
      body: { password: PASSWORD },
      token: pair.access_token,
      headers: from('198.51.100.7'),
    });
    expect(res.status).toBe(401);
    expect(res.json.access_token).toBeUndefined();
    expect((await call(lk.app, '/v1/users/me', { token: pair.access_token })).status).toBe(401);
  });

  it('strict: a login held at the session limit cannot be finished from another network', async () => {
    const lk = await buildLatchkey(database.current, {
      env: {
        SESSION_BINDING: 'strict',
        TRUSTED_IP_HEADER: 'x-forwarded-for',
        SESSION_LIMIT_POLICY: 'reject',
        MAX_SESSIONS_PER_USER: '1',
      },
    });
    const { email } = await registerUser(lk.app);
    const first = await login(lk.app, email, {}, from('203.0.113.7'));
    const held = await call(lk.app, '/v1/auth/login', {
      body: { email, password: PASSWORD },
      headers: from('203.0.113.7'),
    });
    expect(held.status).toBe(409);
    const finish = (headers: Record<string, string>) =>
      call(lk.app, '/v1/auth/login/session-limit', {
        body: { limit_token: held.json.limit_token, revoke_session_id: first.session_id },
        headers,
      });
    const elsewhere = await finish(from('198.51.100.7'));
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.json.error).toBe('invalid_limit_token');
    // The hold is used up, and the owner's session was not revoked.
    expect((await finish(from('203.0.113.7'))).status).toBe(401);
    expect((await call(lk.app, '/v1/users/me', { token: first.access_token })).status).toBe(200);
  });
});
