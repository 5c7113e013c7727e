import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, login, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/**
 * Issue 15 §2, "one request freezes the server": every field a client controls — each JSON
 * body field, query parameter, /oauth form parameter, account-page form field, and each
 * header that is parsed (User-Agent, Cookie, X-Forwarded-For behind TRUSTED_IP_HEADER, the
 * location headers, Content-Type, Authorization) — gets the worst inputs we know: strings at
 * and past its limit, strings built to make a regex backtrack, whitespace runs, multi-byte
 * and NFKC-expanding text, bodies filled up to the 64 KiB limit. Every request must answer as
 * it should (400 past a limit; a 4xx or the normal answer otherwise; never a 5xx) and finish
 * in under 50 ms, the bar for "the event loop is never held".
 *
 * Timing on a shared 2-core CI: a request slower than the bar is sent once more and the
 * faster run counts. A regex that backtracks takes seconds here, not a few milliseconds.
 */

const BUDGET_MS = 50;
const BODY_LIMIT = 64 * 1024;

const ENV = {
  LOGIN_FAILURES_PER_IP: '1000000',
  LOGIN_FAILURES_PER_ACCOUNT: '10000',
  LOGIN_FAILURES_PER_ACCOUNT_ANYWHERE: '1000000',
  MFA_FAILURES_PER_USER: '10000',
  REGISTRATIONS_PER_IP: '1000000',
  REFRESH_FAILURES_PER_IP: '1000000',
  TRUSTED_IP_HEADER: 'x-forwarded-for',
  LOCATION_HEADERS: 'cf-ipcity,cf-region',
  COUNTRY_HEADER: 'cf-ipcountry',
  SESSION_BINDING: 'warn',
};

const database = useDatabase();
let lk: Latchkey;
let alice: { email: string; pair: TokenPair };
let admin: { token: string };
const timings: { name: string; ms: number }[] = [];

beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: ENV });
  const user = await registerUser(lk.app);
  alice = { email: user.email, pair: await login(lk.app, user.email) };

  // An administrator at aal2, for /v1/admin/users.
  const boss = await registerUser(lk.app);
  const activating = await login(lk.app, boss.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', {
    method: 'POST',
    token: activating.access_token,
  });
  const secret: string = enrolled.json.secret;
  const nowCode = () => totpCode(secret, Math.floor(lk.clock.now().getTime() / 1000));
  expect(
    (
      await call(lk.app, '/v1/mfa/totp/activate', {
        body: { code: nowCode() },
        token: activating.access_token,
      })
    ).status,
  ).toBe(200);
  await lk.store.setUserRole(boss.id, 'admin');
  const first = await call(lk.app, '/v1/auth/login', { body: { email: boss.email, password: PASSWORD } });
  lk.clock.advance(30_000);
  const second = await call(lk.app, '/v1/auth/login/mfa', {
    body: { mfa_token: first.json.mfa_token, code: nowCode() },
  });
  expect(second.status).toBe(200);
  admin = { token: second.json.access_token };
});

afterAll(() => {
  if (timings.length === 0) return;
  const sorted = [...timings].sort((a, b) => a.ms - b.ms);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.ms.toFixed(1);
  const slowest = sorted.slice(-3).map((t) => `${t.name} ${t.ms.toFixed(1)} ms`);
  console.info(
    `[input-bounds] ${timings.length} requests: median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms; slowest: ${slowest.join('; ')}`,
  );
});

// ---------------------------------------------------------------------------------------------
// Hostile values.
// ---------------------------------------------------------------------------------------------

/** zod 4 measures strings in code points. */
const codePoints = (value: string) => [...value].length;

/** Repeats `unit` into a string of about `length` UTF-16 units. */
const fill = (unit: string, length: number) => unit.repeat(Math.max(1, Math.floor(length / unit.length)));

/**
 * Units that make a naive regex backtrack (the old email regex, `\/+$`, `\s+$`, nested groups),
 * and text whose size changes on the way (multi-byte UTF-8, NFKC expansion up to 18×).
 */
const HOSTILE_UNITS: [string, string][] = [
  ['a', 'a'],
  ['"a@" runs', 'a@'],
  ['"@a." runs', '@a.'],
  ['"a." runs', 'a.'],
  ['tab runs', '\t'],
  ['space runs', ' '],
  ['slash runs', '/'],
  ['"=" runs', '='],
  ['emoji', '😀'],
  ['e + combining accent', 'e\u0301'],
  ['U+FDFA (NFKC: 18 characters)', '\uFDFA'],
];

/**
 * The old email regex's attack string (recheck's `'\x00@\x00' + '.\x00'.repeat(n) + '.@..\x00'`,
 * with "a" for the NUL that readJson refuses): every "." is a place to backtrack to, and each
 * try scans to the second "@".
 */
const emailAttack = (length: number) => `a@a${fill('.a', length - 8)}.@..a`;

/**
 * Values for a field whose limit is `max`: at it, one past it, and as long as the request
 * allows (`roomFor(unit)`: how many UTF-16 units of `unit` fit, escapes counted).
 */
function hostileValues(max: number, roomFor: (unit: string) => number): { label: string; value: string }[] {
  const values: { label: string; value: string }[] = [];
  for (const [label, unit] of HOSTILE_UNITS) {
    const atMax = unit.repeat(Math.max(1, Math.floor(max / codePoints(unit))));
    values.push({ label: `${label}, at the limit`, value: atMax });
    values.push({
      label: `${label}, one past the limit`,
      value: `${atMax}${'x'.repeat(Math.max(0, max + 1 - codePoints(atMax)))}`,
    });
    values.push({ label: `${label}, filling the request`, value: fill(unit, roomFor(unit)) });
  }
  values.push({ label: 'the old email regex attack, at the limit', value: emailAttack(Math.max(12, max)) });
  values.push({
    label: 'the old email regex attack, filling the request',
    value: emailAttack(roomFor('.a')),
  });
  values.push({
    label: 'a valid email, then a run of spaces and a letter',
    value: `a@b.co${fill(' ', roomFor(' '))}x`,
  });
  return values;
}

/** How many UTF-16 units of `unit` fit in `bytes` of JSON string (escapes counted). */
const jsonRoom = (bytes: number) => (unit: string) =>
  Math.floor((bytes * unit.length) / (Buffer.byteLength(JSON.stringify(unit)) - 2));

/** The same for `application/x-www-form-urlencoded`. */
const formRoom = (bytes: number) => (unit: string) =>
  Math.floor((bytes * unit.length) / new URLSearchParams({ v: unit }).toString().slice(2).length);

/** A body limit less room for the other fields. */
const ROOM = BODY_LIMIT - 1024;

// ---------------------------------------------------------------------------------------------
// Timing a request.
// ---------------------------------------------------------------------------------------------

interface Sent {
  status: number;
  text: string;
  /** Wall-clock time of the request (performance.now()). */
  ms: number;
  /** CPU time this process spent meanwhile, all its threads (argon2's included). */
  cpuMs: number;
}

async function once(path: string, init: RequestInit): Promise<Sent> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const response = await lk.app.request(path, init);
  const text = await response.text();
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { status: response.status, text, ms, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * Sends a request, up to three times while it is over budget, and keeps the least wall-clock
 * and CPU time seen: a garbage collection or a busy neighbour does not repeat three times,
 * while input that makes the server work (a regex that backtracks) costs the same every time.
 */
async function timed(name: string, path: string, init: () => RequestInit): Promise<Sent> {
  let result = await once(path, init());
  for (let run = 1; run < 3 && (result.ms >= BUDGET_MS || result.cpuMs >= BUDGET_MS); run++) {
    const again = await once(path, init());
    result = { ...again, ms: Math.min(result.ms, again.ms), cpuMs: Math.min(result.cpuMs, again.cpuMs) };
  }
  timings.push({ name, ms: result.ms });
  return result;
}

function expectAnswer(name: string, sent: Sent, expected: 'limit' | 'any') {
  const where = `${name} -> ${sent.status} in ${sent.ms.toFixed(1)} ms (${sent.cpuMs.toFixed(1)} ms CPU): ${sent.text.slice(0, 200)}`;
  expect(sent.status, where).toBeLessThan(500);
  if (expected === 'limit') {
    expect([400, 413], where).toContain(sent.status);
    if (sent.status === 400) expect(JSON.parse(sent.text).error, where).toBe('invalid_request');
  }
  // Both runs over the bar in wall-clock time: on a machine this loaded, the time waiting for
  // a core counts too. Then the CPU time decides: work that holds the event loop (a regex
  // that backtracks takes seconds here) shows there as well; waiting for a core does not.
  if (sent.ms >= BUDGET_MS) expect(sent.cpuMs, where).toBeLessThan(BUDGET_MS);
}

// ---------------------------------------------------------------------------------------------
// JSON bodies.
// ---------------------------------------------------------------------------------------------

interface BodyField {
  /** The longest value the schema lets through (in code points, as zod 4 counts). */
  max: number;
  /** For a field trimmed first: `max` applies after the trim, `rawMax` before it. */
  rawMax?: number;
}

const pastLimit = (value: string, field: BodyField) =>
  field.rawMax !== undefined
    ? codePoints(value) > field.rawMax || codePoints(value.trim()) > field.max
    : codePoints(value) > field.max;

interface BodyEndpoint {
  path: string;
  auth?: () => string;
  /** The rest of a valid-looking body. */
  base: () => Record<string, unknown>;
  fields: Record<string, BodyField>;
}

const JSON_ENDPOINTS: BodyEndpoint[] = [
  {
    path: '/v1/auth/register',
    base: () => ({ email: 'someone-new@example.com', password: 'velvet trombone galaxy pickle 93' }),
    fields: { email: { max: 254, rawMax: 1024 }, password: { max: 1024 }, name: { max: 200 } },
  },
  {
    path: '/v1/auth/login',
    base: () => ({ email: alice.email, password: 'not her password' }),
    fields: {
      email: { max: 1024 },
      password: { max: 1024 },
      device_name: { max: 100, rawMax: 1024 },
      client_id: { max: 64 },
    },
  },
  {
    path: '/v1/auth/login/session-limit',
    base: () => ({ limit_token: 'lkl_x', revoke_session_id: '00000000-0000-4000-8000-000000000000' }),
    fields: { limit_token: { max: 512 }, revoke_session_id: { max: 36 } },
  },
  {
    path: '/v1/auth/login/mfa',
    base: () => ({ mfa_token: 'lkm_x', code: '123456' }),
    fields: { mfa_token: { max: 8192 }, code: { max: 32 } },
  },
  {
    path: '/v1/auth/login/mfa',
    base: () => ({ mfa_token: 'lkm_x', recovery_code: 'AAAA-BBBB-CCCC' }),
    fields: { recovery_code: { max: 64 } },
  },
  {
    path: '/v1/auth/refresh',
    base: () => ({ refresh_token: 'lkr_x' }),
    fields: { refresh_token: { max: 512 }, client_id: { max: 64 } },
  },
  {
    path: '/v1/auth/logout',
    base: () => ({ refresh_token: 'lkr_x' }),
    fields: { refresh_token: { max: 512 } },
  },
  {
    path: '/v1/auth/step-up',
    auth: () => alice.pair.access_token,
    base: () => ({ password: 'not her password' }),
    fields: { password: { max: 1024 }, delivery: { max: 6 } },
  },
  {
    path: '/v1/auth/step-up',
    auth: () => alice.pair.access_token,
    base: () => ({ code: '123456' }),
    fields: { code: { max: 32 } },
  },
  {
    path: '/v1/users/me/password',
    auth: () => alice.pair.access_token,
    base: () => ({ current_password: 'not her password', new_password: 'another fine passphrase 42' }),
    fields: { current_password: { max: 1024 }, new_password: { max: 1024 } },
  },
  {
    path: '/v1/mfa/totp/activate',
    auth: () => alice.pair.access_token,
    base: () => ({}),
    fields: { code: { max: 32 } },
  },
];

describe('JSON bodies: every field, worst inputs, each answer right and under 50 ms', () => {
  const cases = JSON_ENDPOINTS.flatMap((endpoint) =>
    Object.entries(endpoint.fields).map(([field, limits]) => ({ endpoint, field, limits })),
  );
  it.each(cases.map((entry) => [`${entry.endpoint.path} ${entry.field}`, entry] as const))(
    '%s',
    async (_name, entry) => {
      const { endpoint, field, limits } = entry;
      for (const { label, value } of hostileValues(limits.max, jsonRoom(ROOM))) {
        const body = JSON.stringify({ ...endpoint.base(), [field]: value });
        const name = `${endpoint.path} ${field}: ${label} (${value.length} units, ${Buffer.byteLength(body)} bytes)`;
        const sent = await timed(name, endpoint.path, () => ({
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(endpoint.auth ? { authorization: `Bearer ${endpoint.auth()}` } : {}),
          },
          body,
        }));
        expectAnswer(name, sent, pastLimit(value, limits) ? 'limit' : 'any');
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Query parameters and path ids.
// ---------------------------------------------------------------------------------------------

/** A URL stays well under what proxies accept; the query's value is what matters here. */
const QUERY_ROOM = 16 * 1024;
const queryRoom = formRoom(QUERY_ROOM);

describe('query parameters and path ids: worst inputs, each answer right and under 50 ms', () => {
  const token = (who: 'alice' | 'admin') => (who === 'admin' ? admin.token : alice.pair.access_token);
  // max 0: a number, which no hostile value is.
  const QUERIES: [string, string, 'alice' | 'admin', number][] = [
    ['/v1/users/me/events', 'cursor', 'alice', 200],
    ['/v1/users/me/events', 'limit', 'alice', 0],
    ['/v1/admin/users', 'q', 'admin', 320],
    ['/v1/admin/users', 'cursor', 'admin', 1016],
    ['/v1/admin/users', 'limit', 'admin', 0],
    ['/v1/admin/analytics', 'days', 'admin', 0],
  ];
  it.each(QUERIES)('GET %s ?%s= (as %s)', async (path, param, who, max) => {
    for (const { label, value } of hostileValues(Math.max(max, 1), queryRoom)) {
      const url = `${path}?${new URLSearchParams({ [param]: value })}`;
      const name = `GET ${path} ${param}: ${label} (${value.length} units)`;
      const sent = await timed(name, url, () => ({ headers: { authorization: `Bearer ${token(who)}` } }));
      // q is a search: any text up to 320 is a normal answer; numbers and cursors are strict.
      expectAnswer(name, sent, max === 0 || codePoints(value) > max ? 'limit' : 'any');
      if (param === 'cursor' || max === 0) expect([200, 400], name).toContain(sent.status);
    }
  });

  it.each([
    ['DELETE', '/v1/sessions/'],
    ['GET', '/v1/admin/users/'],
    ['GET', '/v1/admin/users/{id}/sessions'],
  ] as const)('%s %s with hostile ids', async (method, path) => {
    for (const { label, value } of hostileValues(36, queryRoom)) {
      const id = encodeURIComponent(value);
      const url = path.includes('{id}') ? path.replace('{id}', id) : `${path}${id}`;
      const name = `${method} ${path}: ${label}`;
      const bearer = token(path.startsWith('/v1/admin') ? 'admin' : 'alice');
      const sent = await timed(name, url, () => ({ method, headers: { authorization: `Bearer ${bearer}` } }));
      expectAnswer(name, sent, 'any');
      expect([400, 404], name).toContain(sent.status);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The /oauth endpoints' form parameters (RFC 6749 §3.2: application/x-www-form-urlencoded).
// ---------------------------------------------------------------------------------------------

describe('/oauth form parameters: worst inputs, each answer right and under 50 ms', () => {
  const FORMS: [string, Record<string, string>, string, number][] = [
    ['/oauth/token', { grant_type: 'refresh_token', refresh_token: 'lkr_x' }, 'grant_type', 100],
    ['/oauth/token', { grant_type: 'refresh_token' }, 'refresh_token', 512],
    ['/oauth/token', { grant_type: 'refresh_token', refresh_token: 'lkr_x' }, 'client_id', 64],
    ['/oauth/revoke', {}, 'token', 4096],
    ['/oauth/revoke', { token: 'lkr_x' }, 'token_type_hint', 100],
    ['/oauth/revoke', { token: 'lkr_x' }, 'client_id', 64],
    ['/oauth/introspect', {}, 'token', 4096],
    ['/oauth/introspect', { token: 'x' }, 'token_type_hint', 100],
    ['/oauth/introspect', { token: 'x' }, 'client_id', 200],
    ['/oauth/introspect', { token: 'x', client_id: 'rs' }, 'client_secret', 1024],
  ];
  it.each(FORMS)('POST %s %s', async (path, base, param, max) => {
    for (const { label, value } of hostileValues(max, formRoom(ROOM))) {
      const body = new URLSearchParams({ ...base, [param]: value }).toString();
      const name = `POST ${path} ${param}: ${label} (${value.length} units, ${body.length} bytes)`;
      const sent = await timed(name, path, () => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }));
      expectAnswer(name, sent, codePoints(value) > max ? 'limit' : 'any');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The account pages' forms (/account): a browser of our own, with its CSRF cookie.
// ---------------------------------------------------------------------------------------------

/** Cookie name=value pairs of a response's Set-Cookie headers (Max-Age=0 ones dropped). */
function cookiesOf(response: Response, jar: Map<string, string> = new Map()): Map<string, string> {
  for (const header of response.headers.getSetCookie()) {
    const [pair = ''] = header.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    if (/max-age=0/i.test(header)) jar.delete(name);
    else jar.set(name, pair.slice(eq + 1).trim());
  }
  return jar;
}

const cookieHeader = (jar: Map<string, string>) =>
  [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
const csrfOf = (jar: Map<string, string>) => [...jar].find(([name]) => name.includes('csrf'))?.[1] ?? '';

/** A browser signed in to the account pages (alice), or only holding its CSRF cookie. */
async function browser(signedIn: boolean): Promise<Map<string, string>> {
  const jar = cookiesOf(await lk.app.request('/account/sign-in'));
  if (!signedIn) return jar;
  const form = new URLSearchParams({ csrf: csrfOf(jar), email: alice.email, password: PASSWORD });
  const response = await lk.app.request('/account/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
    body: form.toString(),
  });
  expect(response.status).toBe(303);
  return cookiesOf(response, jar);
}

describe('account page forms: worst inputs, never a 5xx, each under 50 ms', () => {
  const FORMS: [string, boolean, Record<string, string>, string, number][] = [
    ['/account/sign-in', false, { password: 'not her password' }, 'email', 1024],
    ['/account/sign-in', false, { email: 'nobody@example.com' }, 'password', 1024],
    ['/account/sign-in', false, { email: 'nobody@example.com', password: 'x' }, 'device_name', 100],
    ['/account/sign-in/mfa', false, {}, 'code', 32],
    ['/account/sign-in/mfa', false, {}, 'recovery_code', 64],
    ['/account/sign-in/session-limit', false, {}, 'revoke_session_id', 36],
    [
      '/account/security/password',
      true,
      { new_password: 'another fine passphrase 42' },
      'current_password',
      1024,
    ],
    ['/account/security/password', true, { current_password: 'not hers' }, 'new_password', 1024],
    ['/account/security/totp/activate', true, {}, 'code', 32],
    ['/account/security/totp/activate', true, { code: '123456' }, 'secret', 64],
  ];
  it.each(FORMS)('POST %s (signed in: %s) %s', async (path, signedIn, base, field, max) => {
    const jar = await browser(signedIn);
    for (const { label, value } of hostileValues(max, formRoom(ROOM))) {
      const body = new URLSearchParams({ csrf: csrfOf(jar), ...base, [field]: value }).toString();
      const name = `POST ${path} ${field}: ${label} (${value.length} units, ${body.length} bytes)`;
      const sent = await timed(name, path, () => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
        body,
      }));
      expectAnswer(name, sent, 'any');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Headers that are parsed.
// ---------------------------------------------------------------------------------------------

const HEADER_ROOM = 60 * 1024;

/**
 * Hostile header values: a header carries bytes (a ByteString), so text beyond Latin-1 is
 * sent as its UTF-8 bytes, as a client writing raw bytes would; CR, LF and NUL cannot be sent.
 */
const headerValues = (max: number) =>
  hostileValues(max, (unit) => Math.floor((HEADER_ROOM * unit.length) / Buffer.byteLength(unit)))
    .map(({ label, value }) => ({ label, value: Buffer.from(value, 'utf8').toString('latin1') }))
    .filter(({ value }) => /^[\t\x20-\x7e\x80-\xff]*$/.test(value));

/** User agents that have made UA parsers backtrack, grown to the header's room. */
const HOSTILE_USER_AGENTS = [
  `Mozilla/5.0 (${fill('Windows NT 10.0; ', 20_000)})`,
  `Mozilla/5.0 (Linux; Android 13; ${fill('SM-', 20_000)}) AppleWebKit/537.36`,
  `Mozilla/5.0 ${fill('(KHTML, like Gecko) ', 20_000)}Chrome/131.0 Safari/537.36`,
  `${fill('Opera/', 20_000)}`,
  `Mozilla/5.0 (iPhone; CPU iPhone OS ${fill('1_', 20_000)} like Mac OS X)`,
].map((value, index) => ({ label: `UA parser stress ${index + 1}`, value }));

describe('parsed headers: bounded before parsing, never a 5xx, each under 50 ms', () => {
  const jsonLogin = () => JSON.stringify({ email: alice.email, password: PASSWORD });

  it('User-Agent: a login stores it, a refresh compares its family (SESSION_BINDING=warn), the account page describes it', async () => {
    for (const { label, value } of [...headerValues(512), ...HOSTILE_USER_AGENTS]) {
      const name = `User-Agent: ${label} (${value.length} bytes)`;
      const loggedIn = await timed(`${name}, login`, '/v1/auth/login', () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': value },
        body: jsonLogin(),
      }));
      expectAnswer(`${name}, login`, loggedIn, 'any');
      expect(loggedIn.status, name).toBe(200);
      const pair = JSON.parse(loggedIn.text) as TokenPair;
      const refreshed = await timed(`${name}, refresh`, '/v1/auth/refresh', () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': `${value} changed` },
        body: JSON.stringify({ refresh_token: pair.refresh_token }),
      }));
      expectAnswer(`${name}, refresh`, refreshed, 'any');
      await call(lk.app, '/v1/auth/logout', {
        body: { refresh_token: JSON.parse(refreshed.text).refresh_token },
      });
    }
    // The account pages describe every stored user agent of alice's sessions.
    const jar = await browser(true);
    const page = await timed('GET /account/sessions', '/account/sessions', () => ({
      headers: { cookie: cookieHeader(jar), 'user-agent': HOSTILE_USER_AGENTS[0]!.value },
    }));
    expectAnswer('GET /account/sessions', page, 'any');
    expect(page.status).toBe(200);
  });

  it('Cookie: the refresh cookie and the account cookies, long and malformed', async () => {
    const refreshCookie = lk.config.refreshCookieName;
    const values = [
      ...headerValues(4096),
      { label: 'many pairs', value: fill('a=b; ', HEADER_ROOM) },
      { label: 'many separators', value: fill(';', HEADER_ROOM) },
      { label: 'many equals', value: fill('=', HEADER_ROOM) },
      { label: 'a long refresh cookie', value: `${refreshCookie}=lkr_${fill('A', HEADER_ROOM)}` },
      { label: 'percent runs', value: `${refreshCookie}=${fill('%', HEADER_ROOM)}` },
      { label: 'quoted', value: `${refreshCookie}="${fill('"', HEADER_ROOM)}"` },
    ];
    for (const { label, value } of values) {
      for (const [method, path] of [
        ['POST', '/v1/auth/refresh'],
        ['GET', '/account/sessions'],
        ['GET', '/account/sign-in'],
      ] as const) {
        const name = `Cookie on ${method} ${path}: ${label} (${value.length} bytes)`;
        const sent = await timed(name, path, () => ({
          method,
          headers: { cookie: value, 'sec-fetch-site': 'same-origin' },
        }));
        expectAnswer(name, sent, 'any');
      }
    }
  });

  it('X-Forwarded-For (TRUSTED_IP_HEADER) and the location headers on a login', async () => {
    const values = [
      ...headerValues(64),
      { label: 'a long list', value: fill('203.0.113.9, ', HEADER_ROOM) },
      { label: 'colons', value: fill(':', HEADER_ROOM) },
      { label: 'IPv6 pieces', value: fill('ffff:', HEADER_ROOM) },
      { label: 'brackets', value: `${fill('[', HEADER_ROOM / 2)}::1${fill(']', HEADER_ROOM / 2)}` },
      { label: 'percent escapes, cut', value: fill('%E0%A4%A', HEADER_ROOM) },
    ];
    for (const { label, value } of values) {
      for (const header of ['x-forwarded-for', 'cf-ipcity', 'cf-region', 'cf-ipcountry']) {
        const name = `${header}: ${label} (${value.length} bytes)`;
        const sent = await timed(name, '/v1/auth/login', () => ({
          method: 'POST',
          headers: { 'content-type': 'application/json', [header]: value },
          body: JSON.stringify({ email: alice.email, password: 'not her password' }),
        }));
        expectAnswer(name, sent, 'any');
        expect(sent.status, name).toBe(401);
      }
    }
  });

  it('Content-Type and Authorization', async () => {
    const values = [
      ...headerValues(256),
      { label: 'a long +json suffix', value: `application/${fill('a.', HEADER_ROOM)}+json` },
      { label: 'parameters', value: `application/json${fill('; a=b', HEADER_ROOM)}` },
    ];
    for (const { label, value } of values) {
      const name = `Content-Type: ${label} (${value.length} bytes)`;
      const sent = await timed(name, '/v1/auth/register', () => ({
        method: 'POST',
        headers: { 'content-type': value },
        body: JSON.stringify({ email: 'a@', password: 'x' }),
      }));
      expectAnswer(name, sent, 'any');
    }
    const tokens = [
      ...headerValues(8192).map(({ label, value }) => ({ label, value: `Bearer ${value}` })),
      { label: 'Bearer, spaces, a bad byte', value: `Bearer${fill(' ', HEADER_ROOM)}!` },
      { label: 'Bearer, token characters, a bad byte', value: `Bearer ${fill('a.', HEADER_ROOM)}!` },
      { label: 'Bearer, padding runs', value: `Bearer a${fill('=', HEADER_ROOM)}a` },
      { label: 'Basic, base64 runs, a bad byte', value: `Basic ${fill('QUJD', HEADER_ROOM)}!` },
    ];
    for (const { label, value } of tokens) {
      for (const [method, path] of [
        ['GET', '/v1/users/me'],
        ['POST', '/oauth/introspect'],
      ] as const) {
        const name = `Authorization on ${path}: ${label} (${value.length} bytes)`;
        const sent = await timed(name, path, () => ({
          method,
          headers: { authorization: value, 'content-type': 'application/x-www-form-urlencoded' },
          ...(method === 'POST' ? { body: 'token=x' } : {}),
        }));
        expectAnswer(name, sent, 'any');
        expect([400, 401], name).toContain(sent.status);
      }
    }
  });
});
