import { beforeAll, describe, expect, it } from 'vitest';
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

  it('ignores location headers a client sends', async () => {
    const { email } = await registerUser(lk.app);
    const session = await loginWith(loginRequest(email, { 'cf-ipcity': 'Forged', 'cf-ipcountry': 'XX' }));
    expect(session.location).toBeNull();
  });
});
