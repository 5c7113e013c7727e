import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { call, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';

/**
 * On Workers, the session's location comes from `request.cf`, which Cloudflare sets; a header
 * a client sends never sets it (unless LOCATION_HEADERS names a trusted proxy's headers).
 */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

async function loginWith(request: Request) {
  const res = await lk.app.request(request);
  expect(res.status).toBe(200);
  const pair = await res.json();
  const sessions = await call(lk.app, '/v1/sessions', { token: pair.access_token });
  return sessions.json.sessions.find((s: { id: string }) => s.id === pair.session_id);
}

const loginRequest = (email: string, headers: Record<string, string> = {}) =>
  new Request('http://localhost/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password: PASSWORD }),
  });

describe('edge location', () => {
  it('takes "City, CC" from request.cf', async () => {
    const { email } = await registerUser(lk.app);
    const request = Object.assign(loginRequest(email), { cf: { city: 'Lisbon', country: 'PT', asn: 1 } });
    expect((await loginWith(request)).location).toBe('Lisbon, PT');
  });

  it("records the login's country (request.cf.country) in the event and its indexed column", async () => {
    const { email, id } = await registerUser(lk.app);
    const request = Object.assign(loginRequest(email), { cf: { city: 'Lisbon', country: 'PT' } });
    await loginWith(request);
    const rows = rowsOf<{ country: string | null; details: { country?: string } }>(
      await database.current.db.execute(
        sql`SELECT country, details FROM security_events WHERE user_id = ${id} AND type = 'login_succeeded'`,
      ),
    );
    expect(rows).toEqual([
      expect.objectContaining({ country: 'PT', details: expect.objectContaining({ country: 'PT' }) }),
    ]);
  });

  it('takes the country from COUNTRY_HEADER when configured, and only a two-letter code', async () => {
    const behindEdge = await buildLatchkey(database.current, { env: { COUNTRY_HEADER: 'cf-ipcountry' } });
    const countryOf = async (value: string) => {
      const { email, id } = await registerUser(behindEdge.app);
      const res = await behindEdge.app.request(loginRequest(email, { 'cf-ipcountry': value }));
      expect(res.status).toBe(200);
      const [row] = rowsOf<{ country: string | null }>(
        await database.current.db.execute(
          sql`SELECT country FROM security_events WHERE user_id = ${id} AND type = 'login_succeeded'`,
        ),
      );
      return row?.country;
    };
    expect(await countryOf('de')).toBe('DE');
    expect(await countryOf('Germany')).toBeNull();
  });

  it('ignores location headers a client sends', async () => {
    const { email } = await registerUser(lk.app);
    const session = await loginWith(loginRequest(email, { 'cf-ipcity': 'Forged', 'cf-ipcountry': 'XX' }));
    expect(session.location).toBeNull();
  });
});
