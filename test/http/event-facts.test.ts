import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import type { Logger } from '../../src/ports/logger.js';
import { call, login } from '../support/client.js';
import { buildLatchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';

/**
 * Issue #15 §8: every security event carries the facts of the request it happened in — the
 * ones one most wants to trace were stored without IP and user agent. Each service is handed
 * the request's origin in its call (no AsyncLocalStorage: issue #21), so each flow is checked.
 */
const database = useDatabase();
const IP = '192.0.2.44';
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const facts = { 'x-forwarded-for': IP, 'user-agent': UA };

describe('security events carry the request’s IP address and user agent', () => {
  it('user_registered, mfa_enabled, mfa_failed, session_revoked and sessions_revoked', async () => {
    const lk = await buildLatchkey(database.current, { env: { TRUSTED_IP_HEADER: 'x-forwarded-for' } });
    const email = uniqueEmail('facts');
    const registered = await call(lk.app, '/v1/auth/register', {
      body: { email, password: PASSWORD },
      headers: facts,
    });
    expect(registered.status).toBe(201);
    const userId: string = registered.json.user.id;
    const pair = await login(lk.app, email, {}, facts);
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', {
      method: 'POST',
      token: pair.access_token,
      headers: facts,
    });
    const codeAt = () =>
      totp(base32Decode(enrolled.json.secret), Math.floor(lk.clock.now().getTime() / 1000));
    const good = codeAt();
    const wrong = ['000000', '111111'].find((code) => code !== good)!;
    await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code: wrong },
      token: pair.access_token,
      headers: facts,
    });
    await call(lk.app, '/v1/mfa/totp/activate', {
      body: { code: good },
      token: pair.access_token,
      headers: facts,
    });
    const second = await login(lk.app, email, {}, facts).catch(() => undefined);
    expect(second).toMatchObject({ mfa_required: true });
    // Two more sessions through an MFA login, one revoked alone, then the rest.
    lk.clock.advance(30_000);
    const open = async () => {
      const first = await call(lk.app, '/v1/auth/login', {
        body: { email, password: PASSWORD },
        headers: facts,
      });
      const done = await call(lk.app, '/v1/auth/login/mfa', {
        body: { mfa_token: first.json.mfa_token, code: codeAt() },
        headers: facts,
      });
      lk.clock.advance(30_000);
      return done.json;
    };
    const a = await open();
    await open();
    await call(lk.app, `/v1/sessions/${a.session_id}`, {
      method: 'DELETE',
      token: pair.access_token,
      headers: facts,
    });
    await call(lk.app, '/v1/sessions/revoke-all', { body: {}, token: pair.access_token, headers: facts });

    const rows = rowsOf<{ type: string; ip: string | null; user_agent: string | null }>(
      await database.current.db.execute(
        sql`SELECT type, host(ip_address) AS ip, user_agent FROM security_events WHERE user_id = ${userId}`,
      ),
    );
    const types = ['user_registered', 'mfa_enabled', 'mfa_failed', 'session_revoked', 'sessions_revoked'];
    for (const type of types) {
      const events = rows.filter((row) => row.type === type);
      expect(events.length, type).toBeGreaterThan(0);
      for (const event of events)
        expect({ type, ip: event.ip, ua: event.user_agent }).toEqual({ type, ip: IP, ua: UA });
    }
    // Nothing at all is stored without them in this request-driven flow.
    expect(rows.filter((row) => row.ip === null || row.user_agent === null)).toEqual([]);
  });

  it('name_changed, login_failed, password_change_failed, password_changed and the logouts (refresh token, RFC 7009 revocation)', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger: Logger = {
      debug: (msg, fields) => lines.push({ msg, ...fields }),
      info: (msg, fields) => lines.push({ msg, ...fields }),
      warn: (msg, fields) => lines.push({ msg, ...fields }),
      error: (msg, fields) => lines.push({ msg, ...fields }),
    };
    const lk = await buildLatchkey(database.current, {
      env: { TRUSTED_IP_HEADER: 'x-forwarded-for' },
      logger,
    });
    const email = uniqueEmail('facts2');
    const registered = await call(lk.app, '/v1/auth/register', {
      body: { email, password: PASSWORD },
      headers: facts,
    });
    const userId: string = registered.json.user.id;
    const wrong = await call(lk.app, '/v1/auth/login', {
      body: { email, password: `${PASSWORD}-not` },
      headers: facts,
    });
    expect(wrong.status).toBe(401);
    const pair = await login(lk.app, email, {}, facts);
    const renamed = await call(lk.app, '/v1/users/me', {
      method: 'PATCH',
      body: { name: 'Ada' },
      token: pair.access_token,
      headers: facts,
    });
    expect(renamed.status).toBe(200);
    const refused = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: `${PASSWORD}-not`, new_password: `${PASSWORD}-2` },
      token: pair.access_token,
      headers: facts,
    });
    expect(refused.status).toBe(403);
    const changed = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: `${PASSWORD}-2` },
      token: pair.access_token,
      headers: facts,
    });
    expect(changed.status).toBe(204);
    const second = await login(lk.app, email, { password: `${PASSWORD}-2` }, facts);
    const loggedOut = await call(lk.app, '/v1/auth/logout', {
      body: { refresh_token: pair.refresh_token },
      headers: facts,
    });
    expect(loggedOut.status).toBe(204);
    const revoked = await call(lk.app, '/oauth/revoke', {
      rawBody: new URLSearchParams({ token: second.refresh_token }).toString(),
      headers: { ...facts, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(revoked.status).toBe(200);

    const rows = rowsOf<{ type: string; ip: string | null; user_agent: string | null; details: unknown }>(
      await database.current.db.execute(
        sql`SELECT type, host(ip_address) AS ip, user_agent, details FROM security_events WHERE user_id = ${userId}`,
      ),
    );
    const types = rows.map((row) => row.type);
    for (const type of [
      'user_registered',
      'login_failed',
      'login_succeeded',
      'name_changed',
      'password_change_failed',
      'password_changed',
      'session_revoked',
    ]) {
      expect(types, type).toContain(type);
    }
    // Both logouts: by refresh token, and by the RFC 7009 endpoint.
    expect(rows.filter((row) => row.type === 'session_revoked').map((row) => row.details)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ via: 'logout' }),
        expect.objectContaining({ via: 'oauth_revoke' }),
      ]),
    );
    for (const row of rows)
      expect({ type: row.type, ip: row.ip, ua: row.user_agent }).toEqual({ type: row.type, ip: IP, ua: UA });
    // Each event's log line names the request it happened in.
    const requestIds = new Set(lines.filter((line) => line.msg === 'request').map((line) => line.request_id));
    const eventLines = lines.filter((line) => line.msg === 'security event');
    expect(eventLines.length).toBe(rows.length);
    for (const line of eventLines) expect(requestIds.has(line.request_id), String(line.type)).toBe(true);
  });
});
