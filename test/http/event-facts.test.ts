import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, login } from '../support/client.js';
import { buildLatchkey, PASSWORD, uniqueEmail, useDatabase } from '../support/harness.js';
import { base32Decode, totp } from '../support/totp.js';

/**
 * Issue #15 §8: every security event carries the facts of the request it happened in — the
 * ones one most wants to trace were stored without IP and user agent.
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
});
