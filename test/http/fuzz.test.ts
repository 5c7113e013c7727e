import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { EMAIL_SHAPE } from '../../src/http/schemas.js';
import { call, login, registerUser, type TokenPair } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/**
 * Property-based fuzzing of every endpoint of the HTTP contract (docs/API.md, "No response
 * is a 500 for bad input, and no body carries a stack trace"). Each property throws random and
 * hostile bodies, headers, tokens and path ids at one endpoint and checks, for every request:
 *  - the status is a 4xx (never a 5xx, never a 2xx: inputs that could legitimately succeed are
 *    excluded by construction and by filters, see `couldRegister` and `carriesSecret`; the one
 *    2xx allowed is logout's 204 for an unknown refresh token, RFC 7009 §2.2);
 *  - the body is exactly `{error, error_description}` with a snake_case `error`;
 *  - no body carries a stack trace;
 *  - no stored data changed (row counts and an md5 of every row of the tables that hold
 *    accounts, sessions, MFA state and keys; `security_events` and `rate_limits` may change:
 *    wrong passwords and codes are counted and recorded by design).
 * Fixed seed, bounded runs: the file is deterministic and fast on PGlite.
 */

const FC = { seed: 20261124, numRuns: 150 } as const;

/**
 * Wrong passwords, codes, refreshes and sign-up attempts are expected by the thousand here;
 * 429 would still be a fine answer, but higher limits keep the fuzzing reaching the code
 * behind the throttles (the test clock never moves, so a window would never end).
 */
const ENV = {
  LOGIN_FAILURES_PER_IP: '1000000',
  LOGIN_FAILURES_PER_ACCOUNT: '10000',
  MFA_FAILURES_PER_USER: '10000',
  REGISTRATIONS_PER_IP: '1000000',
  REFRESH_FAILURES_PER_IP: '1000000',
};

const database = useDatabase();
let lk: Latchkey;

// ---------------------------------------------------------------------------------------------
// Fixtures: a plain user (alice) with two live sessions, and a user with TOTP (bob) with a
// pending mfa_token, so that every checked table has rows worth protecting.
// ---------------------------------------------------------------------------------------------

interface Fixtures {
  alice: { id: string; email: string; pair: TokenPair; other: TokenPair };
  bob: { id: string; email: string; pair: TokenPair; mfaToken: string };
  /** Every secret a fuzz input must never carry verbatim (it could then succeed). */
  realRefreshTokens: Set<string>;
}
let fx: Fixtures;

beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: ENV });
  const alice = await registerUser(lk.app);
  const alicePair = await login(lk.app, alice.email, { device_name: 'fuzzing laptop' });
  const aliceOther = await login(lk.app, alice.email, { device_name: 'phone', remember: true });

  const bob = await registerUser(lk.app);
  const bobPair = await login(lk.app, bob.email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: bobPair.access_token });
  expect(enrolled.status).toBe(200);
  const code = totpCode(enrolled.json.secret, Math.floor(lk.clock.now().getTime() / 1000));
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code },
    token: bobPair.access_token,
  });
  expect(activated.status).toBe(200);
  const first = await call(lk.app, '/v1/auth/login', { body: { email: bob.email, password: PASSWORD } });
  expect(first.json.mfa_required).toBe(true);

  fx = {
    alice: { ...alice, pair: alicePair, other: aliceOther },
    bob: { ...bob, pair: bobPair, mfaToken: first.json.mfa_token },
    realRefreshTokens: new Set([alicePair.refresh_token, aliceOther.refresh_token, bobPair.refresh_token]),
  };
});

// ---------------------------------------------------------------------------------------------
// "No change to stored data": counts and a checksum of every row, in one query.
// ---------------------------------------------------------------------------------------------

const CHECKED_TABLES = [
  'users',
  'refresh_tokens',
  'mfa_factors',
  'recovery_codes',
  'mfa_challenges',
  'signing_keys',
] as const;

const SNAPSHOT = sql.join(
  CHECKED_TABLES.map(
    (table) =>
      sql`SELECT ${table}::text AS t, count(*)::int AS n,
            coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS sum
          FROM ${sql.identifier(table)} x`,
  ),
  sql` UNION ALL `,
);

async function snapshot(): Promise<Record<string, string>> {
  const rows = rowsOf<{ t: string; n: number; sum: string }>(await database.current.db.execute(SNAPSHOT));
  return Object.fromEntries(rows.map((row) => [row.t, `${row.n} rows, md5 ${row.sum}`]));
}

it('control: the snapshot sees a change to a checked table', async () => {
  const before = await snapshot();
  const { email } = await registerUser(lk.app);
  const after = await snapshot();
  expect(after.users).not.toBe(before.users);
  expect(after.refresh_tokens).toBe(before.refresh_tokens);
  await database.current.db.execute(sql`DELETE FROM users WHERE email = ${email}`);
  expect(await snapshot()).toEqual(before);
});

// ---------------------------------------------------------------------------------------------
// Sending a request and judging its answer.
// ---------------------------------------------------------------------------------------------

interface FuzzRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface FuzzResponse {
  status: number;
  headers: Headers;
  text: string;
}

async function send(request: FuzzRequest): Promise<FuzzResponse> {
  const response = await lk.app.request(request.path, {
    method: request.method,
    headers: request.headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const SNAKE_CASE = /^[a-z]+(_[a-z0-9]+)*$/;

/** A clean error answer of the contract: 4xx, `{error, error_description}`, no stack, no-store. */
function expectCleanError(response: FuzzResponse, context: FuzzRequest): void {
  const where = `${context.method} ${context.path} -> ${response.status} ${response.text.slice(0, 300)}`;
  expect(response.status, where).toBeGreaterThanOrEqual(400);
  expect(response.status, where).toBeLessThan(500);
  expect(response.text, where).not.toContain('    at ');
  expect(response.text, where).not.toMatch(/Error:/);
  expect(response.headers.get('content-type') ?? '', where).toMatch(/^application\/json/);
  const body = JSON.parse(response.text);
  expect(Object.keys(body).sort(), where).toEqual(['error', 'error_description']);
  expect(body.error, where).toMatch(SNAKE_CASE);
  expect(typeof body.error_description, where).toBe('string');
  expect(response.headers.get('cache-control'), where).toBe('no-store');
  if (body.error === 'invalid_token') {
    // RFC 9449 §7.1: a token presented with the DPoP scheme is refused with a DPoP challenge.
    expect(response.headers.get('www-authenticate') ?? '', where).toMatch(
      /^(Bearer|DPoP) error="invalid_token"/,
    );
  }
}

/** Sends `request` and checks its answer with `judge`, and that no checked table changed. */
async function sendUnchanged(
  request: FuzzRequest,
  judge: (response: FuzzResponse, request: FuzzRequest) => void = expectCleanError,
): Promise<FuzzResponse> {
  const before = await snapshot();
  const response = await send(request);
  judge(response, request);
  expect(await snapshot(), `${request.method} ${request.path} changed stored data`).toEqual(before);
  return response;
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64urlChar = fc.constantFrom(...B64URL);
const b64urlString = (minLength: number, maxLength: number) =>
  fc.string({ unit: b64urlChar, minLength, maxLength });
const b64json = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url');

/** Characters a header value can carry through `Headers` (ByteString, no CR/LF/NUL). */
const headerChar = fc
  .integer({ min: 0x20, max: 0xff })
  .filter((code) => code !== 0x7f)
  .map(String.fromCharCode);
const headerString = (maxLength = 80) => fc.string({ unit: headerChar, maxLength });

/** Strings that have broken parsers, drivers and normalisers before. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b@example.com',
  '\uD800',
  '\uDFFF\uD800',
  '\u202E\u0041',
  '\uFEFF',
  'ﬀﬁﬂ', // NFKC expands these
  '𝒶𝒷𝒸@𝒹.𝑒𝓍',
  'Ⅻ',
  '\u0130', // İ: changes length when lower-cased
  'ß',
  '..',
  '../../etc/passwd',
  '%00',
  '%',
  "' OR '1'='1' --",
  "'; DROP TABLE users; --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style payload, on purpose
  '${jndi:ldap://127.0.0.1:9/x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'NaN',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  '0',
  '-1',
  '1e309',
  '9'.repeat(400),
];

const nastyString = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
  // Control characters, and a NUL inside an otherwise ordinary string.
  {
    arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map(String.fromCharCode), maxLength: 6 }),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }))
      .map(([before, after]) => `${before}\u0000${after}`),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('x', 'é', '😀', '\u0000', 'A'), fc.integer({ min: 129, max: 12_000 }))
      .map(([char, count]) => char.repeat(count)),
    weight: 1,
  },
  // Built to make a regex backtrack (issue 15 §2): runs of what a pattern's repeats share.
  { arbitrary: backtracking(), weight: 1 },
);

/**
 * Strings that make a naive regex backtrack: runs of "a@", "@a.", "a.", whitespace, "/", "=",
 * the old email regex's attack string (`a@a` + `.a`×n + `.@..a`), with a tail that fails the
 * match at the very end. Long enough (up to ~20 000 units) that a quadratic regex would take
 * seconds; the body stays under the 64 KiB limit.
 */
function backtracking(): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom('a@', '@a.', 'a.', '.a', '\t', ' ', '/', '=', 'a', '-', '+', 'a=', '\uFDFA', '😀@'),
      fc.integer({ min: 200, max: 10_000 }),
      fc.constantFrom('', '!', '\u0001', '@', ' x', '.@..a'),
      fc.boolean(),
    )
    .map(([unit, count, tail, asEmail]) => `${asEmail ? 'a@a' : ''}${unit.repeat(count)}${tail}`);
}

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyString, weight: 4 },
  {
    arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1e308, -1, 2 ** 53 + 1)),
    weight: 1,
  },
  { arbitrary: fc.boolean(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: fc.array(nastyString, { maxLength: 3 }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 },
  { arbitrary: fc.constantFrom({}, [], { polluted: true }, { toString: 'x', valueOf: 1 }), weight: 1 },
);

/** An object with the endpoint's real field names (each maybe absent) carrying hostile values. */
const fieldObject = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc
    .record(fields, { requiredKeys: [] })
    .chain((record) =>
      fc
        .dictionary(nastyString, nastyValue, { maxKeys: 2 })
        .map((extra) => ({ ...extra, ...(record as Record<string, unknown>) })),
    );

/** Raw JSON text with prototype-pollution keys around the real fields. */
const pollutingBody = (fields: fc.Arbitrary<Record<string, unknown>>) =>
  fc
    .tuple(
      fields,
      fc.constantFrom(
        '"__proto__": {"polluted": "yes"}',
        '"constructor": {"prototype": {"polluted": "yes"}}',
        '"__proto__": {"__proto__": {"polluted": "yes"}}',
        '"__proto__": null',
        '"prototype": {"polluted": "yes"}',
        '"__proto__": {"email": "x@example.com", "password": "x", "include_current": true}',
      ),
    )
    .map(([object, poison]) => {
      const inner = JSON.stringify(object).slice(1, -1);
      return `{${poison}${inner ? `, ${inner}` : ''}}`;
    });

/** Broken JSON and things that are not JSON at all. */
const brokenJson = fc.oneof(
  fc.constantFrom(
    '{',
    '{"email": ',
    '{"email": "a@b.co", }',
    "{'email': 'a@b.co'}",
    '[1, 2',
    '"just a string"',
    '123',
    'null',
    'true',
    '[]',
    '{"a": 1}{"b": 2}',
    '{"__proto__": }',
    '\uFEFF{}',
    '{"x": "\\ud800"}',
    '{"x": "\\u0000"}',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
    'email=a%40b.co&password=x',
    '--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@b.co\r\n--x--',
    '<?xml version="1.0"?><email>a@b.co</email>',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }),
  fc.json({ maxDepth: 3 }).map((text) => text.slice(0, Math.max(1, text.length - 1))),
);

/**
 * Any body at all: JSON of anything, the endpoint's fields with hostile values, broken text,
 * and (most often) `nearValid`: the right fields with the right types and hostile values,
 * which is what gets past the schema into the services and the database.
 */
const anyBody = (
  fields: Record<string, fc.Arbitrary<unknown>>,
  nearValid?: fc.Arbitrary<Record<string, unknown>>,
) =>
  fc.oneof(
    { arbitrary: fc.json({ maxDepth: 3 }), weight: 2 },
    {
      arbitrary: fc.anything({ maxDepth: 2 }).map((value) => JSON.stringify(value) ?? 'undefined'),
      weight: 2,
    },
    { arbitrary: fieldObject(fields).map((value) => JSON.stringify(value)), weight: 4 },
    { arbitrary: pollutingBody(fieldObject(fields)), weight: 1 },
    { arbitrary: brokenJson, weight: 2 },
    ...(nearValid
      ? [
          { arbitrary: nearValid.map((value) => JSON.stringify(value)), weight: 10 },
          { arbitrary: pollutingBody(nearValid), weight: 2 },
        ]
      : []),
  );

/** Right-typed values for near-valid bodies. */
const someString = nastyString;
const passwordLike = () =>
  fc.oneof(
    nastyString,
    fc.string({ minLength: 8, maxLength: 64 }),
    fc.constantFrom(
      `${PASSWORD} `,
      ` ${PASSWORD}`,
      PASSWORD.toUpperCase(),
      PASSWORD.slice(0, -1),
      `${PASSWORD}\u200B`,
      'x'.repeat(1025),
      'é'.repeat(600),
      '😀'.repeat(200),
    ),
  );
const codeLike = fc.oneof(
  fc.stringMatching(/^\d{6}$/),
  nastyString,
  fc.constantFrom('000000', ' 123456', '12345', '1234567', '１２３４５６', '123 456', '-12345', '1e5'),
);
const clientIdLike = fc.oneof(
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), weight: 3 },
  { arbitrary: nastyString, weight: 1 },
);
const deliveryLike = fc.oneof(
  { arbitrary: fc.constantFrom('body', 'cookie'), weight: 3 },
  { arbitrary: nastyString, weight: 1 },
);
const deviceNameLike = fc.oneof(
  { arbitrary: fc.string({ minLength: 1, maxLength: 100 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }), weight: 1 },
  { arbitrary: nastyString, weight: 1 },
);

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 12 },
  { arbitrary: fc.constant(undefined), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/merge-patch+json',
      'application/json;charset=utf-16',
      'application/json, text/plain',
      'application/jsonx',
      'text/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      '',
      '*/*',
      ';',
    ),
    weight: 2,
  },
  { arbitrary: headerString(40), weight: 1 },
);

/** Breaks a real token in ways that can never give back a valid one. */
function garbled(token: string, opaque: boolean): fc.Arbitrary<string> {
  // A JWS signs the ASCII of `header.payload`: any change there breaks it, whatever the
  // base64 decoder forgives in the signature. An opaque token is hashed whole.
  const signedLength = opaque ? token.length : token.lastIndexOf('.');
  return fc
    .oneof(
      fc.nat({ max: token.length - 1 }).map((length) => token.slice(0, length)),
      fc
        .tuple(fc.nat({ max: signedLength - 1 }), b64urlChar)
        .map(([index, char]) => token.slice(0, index) + char + token.slice(index + 1)),
      fc
        .tuple(fc.nat({ max: signedLength }), fc.string({ minLength: 1, maxLength: 8 }))
        .map(([index, text]) => token.slice(0, index) + text + token.slice(index)),
      fc.constant(token.toUpperCase()),
      fc.constant(`${token}.${token}`),
      fc.constant(token.split('').reverse().join('')),
    )
    .filter((candidate) => candidate !== token);
}

/** Authorization header values a stranger could send (never a valid access token). */
function authorization(): fc.Arbitrary<string> {
  const { alice, bob } = fx;
  const claims = JSON.parse(Buffer.from(alice.pair.access_token.split('.')[1]!, 'base64url').toString());
  const kid = JSON.parse(Buffer.from(alice.pair.access_token.split('.')[0]!, 'base64url').toString()).kid;
  const forged = fc
    .record({
      alg: fc.constantFrom('EdDSA', 'ES256', 'none', 'HS256', 'RS256', 'eddsa', '', 'PS256'),
      typ: fc.constantFrom('at+jwt', 'JWT', undefined),
      kid: fc.oneof(fc.constant(kid), nastyString),
      extra: fc.dictionary(fc.constantFrom('crit', 'jku', 'x5u', 'jwk', 'b64', 'zip', 'enc'), nastyValue, {
        maxKeys: 2,
      }),
      payload: fc.oneof(
        fc.constant(claims),
        fc.record({ acr: fc.constant('aal2'), sub: fc.uuid() }).map((change) => ({ ...claims, ...change })),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      signature: fc.oneof(b64urlString(0, 100), fc.constant(alice.pair.access_token.split('.')[2]!)),
    })
    .map(
      ({ alg, typ, kid: headerKid, extra, payload, signature }) =>
        `${b64json({ alg, typ, kid: headerKid, ...extra })}.${b64json(payload)}.${signature}`,
    );
  const token = fc
    .oneof(
      { arbitrary: garbled(alice.pair.access_token, false), weight: 4 },
      { arbitrary: forged, weight: 4 },
      { arbitrary: b64urlString(0, 300), weight: 1 },
      {
        arbitrary: fc
          .array(b64urlString(0, 60), { minLength: 2, maxLength: 6 })
          .map((parts) => parts.join('.')),
        weight: 2,
      },
      // Tokens of another kind, presented as a Bearer access token.
      {
        arbitrary: fc.constantFrom(alice.pair.refresh_token, bob.mfaToken, alice.pair.session_id),
        weight: 1,
      },
      { arbitrary: garbled(bob.mfaToken, true), weight: 1 },
    )
    // The forgery above can rebuild the real token byte for byte (same header, claims and
    // signature): that one is not a stranger's.
    .filter((value) => value !== alice.pair.access_token);
  return fc.oneof(
    { arbitrary: token.map((value) => `Bearer ${value}`), weight: 8 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom('bearer', 'BEARER', 'Bearer', 'Basic', 'Token', 'DPoP', 'Bearer:', ''), token)
        .map(([scheme, value]) => `${scheme}  ${value}`),
      weight: 2,
    },
    { arbitrary: headerString(200), weight: 2 },
    { arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'Bearer =', 'Bearer ...', 'Bearer a b'), weight: 1 },
  );
}

/** A content type (usually JSON, sometimes none) and optional hostile headers. */
function requestHeaders(withAuthorization: fc.Arbitrary<string | undefined>) {
  return fc
    .record(
      {
        'content-type': contentType,
        authorization: withAuthorization,
        cookie: fc.oneof(
          fc.tuple(b64urlString(0, 60)).map(([value]) => `__Secure-latchkey_refresh=lkr_${value}`),
          garbled(fx.alice.pair.refresh_token, true)
            .filter((value) => /^[\x21-\x7e]*$/.test(value) && !value.includes(';'))
            .map((value) => `__Secure-latchkey_refresh=${value}`),
          headerString(100),
        ),
        origin: fc.oneof(
          fc.constantFrom('https://app.example.com', 'null', 'https://evil.example'),
          headerString(),
        ),
        'sec-fetch-site': fc.constantFrom('same-origin', 'cross-site', 'none'),
        'user-agent': headerString(600),
        'x-forwarded-for': headerString(),
      },
      { requiredKeys: ['content-type'] },
    )
    .map((headers) =>
      Object.fromEntries(
        Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    );
}

// ---------------------------------------------------------------------------------------------
// Which random inputs could legitimately succeed (or change state)? They are excluded.
// ---------------------------------------------------------------------------------------------

const parsed = (text: string | undefined): Record<string, unknown> | undefined => {
  try {
    const value = JSON.parse(text ?? '');
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
};

/** Registration's email rule (src/http/schemas.ts): at most 254 after the trim, then the shape. */
const emailShaped = (value: string) => {
  const trimmed = value.trim();
  return [...trimmed].length <= 254 && EMAIL_SHAPE.test(trimmed);
};
const codePoints = (value: string) => [...value.normalize('NFKC')].length;

/** A body that passes registration's checks, strength aside: it could create a user. */
function couldRegister(body: string | undefined): boolean {
  const value = parsed(body);
  if (!value) return false;
  const { email, password, name } = value;
  return (
    typeof email === 'string' &&
    emailShaped(email) &&
    typeof password === 'string' &&
    codePoints(password) >= 8 &&
    (name === undefined || name === null || typeof name === 'string')
  );
}

/** Only the real password opens a session (the generators never produce it, this is a guard). */
const carriesSecret = (body: string | undefined): boolean => {
  const value = parsed(body);
  if (!value) return false;
  return Object.values(value).some(
    (field) =>
      typeof field === 'string' &&
      (field.normalize('NFKC') === PASSWORD ||
        field === fx.bob.mfaToken ||
        fx.realRefreshTokens.has(field) ||
        field === fx.alice.pair.access_token),
  );
};

const invalidEmail = fc.oneof(
  nastyString.filter((value) => !emailShaped(value)),
  fc.constantFrom('alice', 'alice@', '@example.com', 'a@b', 'a b@c.de', 'a@@b.co', 'a@b.co x'),
  longEmail().filter((value) => !emailShaped(value)),
);
const shortPassword = fc
  .oneof(
    fc.string({ maxLength: 7 }),
    fc.string({ unit: 'binary', maxLength: 7 }),
    fc.constantFrom('', ' ', '\u0000'),
  )
  .filter((value) => codePoints(value) < 8);

/**
 * Long and unicode emails: up to 1024 code points (the login schema's bound), so they reach the
 * service, the throttle's keys and the user lookup; 3-8 KB in UTF-8 (issue 15 §8: a ~3 KB
 * email made a failed login a 500, its rate-limit key over PostgreSQL's btree limit), and
 * NFKC-expanding characters (U+FDFA becomes 18 characters) that grow on normalisation.
 */
function longEmail(): fc.Arbitrary<string> {
  const domain = fc.constantFrom('@example.com', '@例え.テスト', `@${'ü'.repeat(8)}.de`, '');
  return fc.oneof(
    // Runs of one character (they compress) ...
    fc
      .tuple(
        fc.constantFrom('a', 'é', '€', '𝒶', '😀', '\uFDFA', 'ﬀ', 'İ', '\u0301'),
        fc.integer({ min: 100, max: 1000 }),
        domain,
      )
      .map(([unit, count, at]) => `${unit.repeat(count)}${at}`),
    // ... and varied text that does not: 2-4 bytes a character, 300-1000 characters.
    fc
      .tuple(
        fc.constantFrom([0x00e0, 0x024f], [0x4e00, 0x9fff], [0x100, 0xd7ff], [0x10000, 0x10fffd]),
        fc.integer({ min: 300, max: 1000 }),
        domain,
      )
      .chain(([[from, to], count, at]) =>
        fc
          .string({
            unit: fc.integer({ min: from!, max: to! }).map((code) => String.fromCodePoint(code)),
            minLength: count,
            maxLength: count,
          })
          .map((local) => `${local}${at}`),
      ),
  );
}

const noAuth = fc.constant(undefined);
const maybeAuth = () => fc.option(authorization(), { nil: undefined });

async function fuzz<T>(arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>): Promise<void> {
  await fc.assert(fc.asyncProperty(arbitrary, predicate), FC);
}

// ---------------------------------------------------------------------------------------------
// The unauthenticated endpoints.
// ---------------------------------------------------------------------------------------------

describe('unauthenticated endpoints never fail with a 5xx and change nothing', () => {
  it('POST /v1/auth/register', async () => {
    // Near-valid sign-ups that must fail: an email that is not one, or a password under 8.
    const nearValid = fc.oneof(
      fc.record(
        { email: invalidEmail, password: passwordLike(), name: fc.option(someString, { nil: undefined }) },
        { requiredKeys: ['email', 'password'] },
      ),
      fc.record(
        {
          email: fc.oneof(
            fc.emailAddress(),
            fc.constantFrom(fx.alice.email, ` ${fx.bob.email.toUpperCase()} `),
          ),
          password: shortPassword,
          name: fc.option(someString, { nil: undefined }),
        },
        { requiredKeys: ['email', 'password'] },
      ),
    );
    const body = anyBody({ email: nastyValue, password: nastyValue, name: nastyValue }, nearValid).filter(
      (text) => !couldRegister(text),
    );
    await fuzz(fc.record({ body, headers: requestHeaders(maybeAuth()) }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/auth/register', headers, body });
    });
  });

  it('POST /v1/auth/login (never the right password)', async () => {
    const email = fc.oneof(
      someString,
      fc.emailAddress(),
      fc.constantFrom(fx.alice.email, fx.bob.email.toUpperCase(), ` ${fx.alice.email}\t`),
      longEmail(),
    );
    const nearValid = fc.record(
      {
        email,
        password: passwordLike(),
        device_name: deviceNameLike,
        remember: fc.boolean(),
        delivery: deliveryLike,
        client_id: clientIdLike,
      },
      { requiredKeys: ['email', 'password'] },
    );
    const body = anyBody(
      {
        email: fc.oneof(email, nastyValue),
        password: nastyValue,
        device_name: nastyValue,
        remember: nastyValue,
        delivery: nastyValue,
        client_id: nastyValue,
      },
      nearValid,
    ).filter((text) => !carriesSecret(text));
    await fuzz(fc.record({ body, headers: requestHeaders(maybeAuth()) }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/auth/login', headers, body });
    });
  });

  it("POST /v1/auth/login/mfa (never bob's real mfa_token)", async () => {
    const mfaToken = fc.oneof(
      { arbitrary: garbled(fx.bob.mfaToken, true), weight: 3 },
      { arbitrary: b64urlString(43, 43).map((value) => `lkm_${value}`), weight: 2 },
      { arbitrary: fc.constantFrom(fx.alice.pair.access_token, fx.alice.pair.refresh_token), weight: 1 },
      { arbitrary: someString, weight: 2 },
    );
    const nearValid = fc.oneof(
      fc.record({ mfa_token: mfaToken, code: codeLike }),
      fc.record({
        mfa_token: mfaToken,
        recovery_code: fc.oneof(fc.stringMatching(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/), someString),
      }),
    );
    const body = anyBody(
      { mfa_token: nastyValue, code: nastyValue, recovery_code: nastyValue },
      nearValid,
    ).filter((text) => !carriesSecret(text));
    await fuzz(fc.record({ body, headers: requestHeaders(maybeAuth()) }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/auth/login/mfa', headers, body });
    });
  });

  const refreshTokenLike = () =>
    fc.oneof(
      { arbitrary: garbled(fx.alice.pair.refresh_token, true), weight: 3 },
      { arbitrary: b64urlString(43, 43).map((value) => `lkr_${value}`), weight: 2 },
      { arbitrary: fc.constantFrom(fx.alice.pair.access_token, fx.bob.mfaToken), weight: 1 },
      { arbitrary: someString, weight: 2 },
    );

  it('POST /v1/auth/refresh (never a live refresh token)', async () => {
    const nearValid = fc.record(
      { refresh_token: refreshTokenLike(), client_id: clientIdLike },
      { requiredKeys: ['refresh_token'] },
    );
    const body = anyBody({ refresh_token: nastyValue, client_id: nastyValue }, nearValid).filter(
      (text) => !carriesSecret(text),
    );
    await fuzz(fc.record({ body, headers: requestHeaders(maybeAuth()) }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/auth/refresh', headers, body });
    });
  });

  it('POST /v1/auth/logout (204 only when it names a refresh token, which must then be unknown)', async () => {
    const nearValid = fc.record({ refresh_token: refreshTokenLike() });
    const body = fc.option(anyBody({ refresh_token: nastyValue }, nearValid), { nil: undefined });
    const request = fc
      .record({ body, headers: requestHeaders(maybeAuth()) })
      .filter(({ body }) => !carriesSecret(body));
    await fuzz(request, async ({ body, headers }) => {
      // RFC 7009 §2.2: an unknown refresh token is answered as if it had been revoked.
      const namesRefreshToken = typeof parsed(body)?.refresh_token === 'string' || 'cookie' in headers;
      await sendUnchanged({ method: 'POST', path: '/v1/auth/logout', headers, body }, (response, req) => {
        if (response.status === 204 && namesRefreshToken) expect(response.text).toBe('');
        else expectCleanError(response, req);
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The Bearer endpoints, with anything but a valid access token: always 401 invalid_token.
// ---------------------------------------------------------------------------------------------

const BEARER_ROUTES: [FuzzRequest['method'], string, Record<string, fc.Arbitrary<unknown>> | undefined][] = [
  ['POST', '/v1/auth/step-up', { code: nastyValue, password: nastyValue, delivery: nastyValue }],
  ['GET', '/v1/users/me', undefined],
  ['GET', '/v1/users/me/events', undefined],
  ['POST', '/v1/users/me/password', { current_password: nastyValue, new_password: nastyValue }],
  ['GET', '/v1/sessions', undefined],
  ['POST', '/v1/sessions/revoke-all', { include_current: fc.oneof(fc.boolean(), nastyValue) }],
  ['DELETE', '/v1/sessions/{id}', undefined],
  ['POST', '/v1/mfa/totp/enroll', {}],
  ['POST', '/v1/mfa/totp/activate', { code: nastyValue }],
  ['DELETE', '/v1/mfa/totp', {}],
  ['POST', '/v1/mfa/recovery-codes', {}],
];

/** encodeURIComponent, but lone surrogates (which it refuses) become U+FFFD first. */
const encodeSegment = (value: string) => {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
  }
};

/** Path ids: real ids of sessions (others' too), random UUIDs, and hostile segments. */
function pathId(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(fx.alice.pair.session_id, fx.alice.other.session_id, fx.bob.pair.session_id),
    fc.uuid(),
    nastyString.map(encodeSegment),
    fc.constantFrom('..', '%2e%2e', '%2F', '%00', '%ZZ', '1;DROP TABLE x', 'a'.repeat(3000)),
  );
}

describe('Bearer endpoints refuse anything but a valid access token with 401 invalid_token', () => {
  it.each(BEARER_ROUTES)('%s %s', async (method, path, fields) => {
    const request = fc.record({
      id: pathId(),
      headers: requestHeaders(fc.option(authorization(), { nil: undefined })),
      body: method === 'GET' ? fc.constant(undefined) : fc.option(anyBody(fields ?? {}), { nil: undefined }),
    });
    await fuzz(request, async ({ id, headers, body }) => {
      const concretePath = path.replace('{id}', id);
      await sendUnchanged({ method, path: concretePath, headers, body }, (response, req) => {
        expectCleanError(response, req);
        // The body limit comes first: 413 for a body over 64 KiB.
        if (Buffer.byteLength(req.body ?? '') > 64 * 1024) {
          expect(response.status).toBe(413);
          return;
        }
        // A garbled id can leave the route table (e.g. "/v1/sessions/.."): 404 then; else 401.
        if (response.status !== 404 || !path.includes('{id}')) {
          expect(response.status, `${method} ${concretePath}: ${response.text}`).toBe(401);
          expect(JSON.parse(response.text).error).toBe('invalid_token');
        }
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The Bearer endpoints with a valid aal1 token and hostile input behind it.
// ---------------------------------------------------------------------------------------------

/** Headers with alice's real token and a hostile content type and extras. */
const withAliceToken = () =>
  requestHeaders(noAuth).map((headers) => ({
    ...headers,
    authorization: `Bearer ${fx.alice.pair.access_token}`,
  }));

describe('Bearer endpoints with a valid token and hostile input answer 4xx and change nothing', () => {
  it('POST /v1/auth/step-up (alice has no TOTP; the password is never hers)', async () => {
    const nearValid = fc.oneof(
      fc.record({ code: codeLike, delivery: deliveryLike }, { requiredKeys: ['code'] }),
      fc.record({ password: passwordLike(), delivery: deliveryLike }, { requiredKeys: ['password'] }),
    );
    const body = anyBody({ code: nastyValue, password: nastyValue, delivery: nastyValue }, nearValid).filter(
      (text) => !carriesSecret(text),
    );
    await fuzz(fc.record({ body, headers: withAliceToken() }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/auth/step-up', headers, body });
    });
  });

  it('POST /v1/users/me/password (the current password is never hers)', async () => {
    const nearValid = fc.record({
      current_password: passwordLike(),
      new_password: fc.oneof(passwordLike(), fc.constant('another correct horse battery staple 42')),
    });
    const body = anyBody({ current_password: nastyValue, new_password: nastyValue }, nearValid).filter(
      (text) => !carriesSecret(text),
    );
    await fuzz(fc.record({ body, headers: withAliceToken() }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/users/me/password', headers, body });
    });
  });

  it('POST /v1/sessions/revoke-all (bodies that are not a valid request)', async () => {
    // A valid body (an object whose include_current is absent or a boolean, or an empty body)
    // would revoke alice's other session: not a fuzz input.
    const nearValid = fc.record({ include_current: nastyValue });
    const body = anyBody({ include_current: nastyValue }, nearValid).filter((text) => {
      const value = parsed(text);
      if (text.trim() === '') return false;
      return !value || (value.include_current !== undefined && typeof value.include_current !== 'boolean');
    });
    await fuzz(fc.record({ body, headers: withAliceToken() }), async ({ body, headers }) => {
      // With a JSON content type the body is parsed and refused (400); with another, 415.
      await sendUnchanged({ method: 'POST', path: '/v1/sessions/revoke-all', headers, body });
    });
  });

  it("DELETE /v1/sessions/{id} (random ids, and another user's real session)", async () => {
    const id = pathId().filter(
      (value) => value !== fx.alice.pair.session_id && value !== fx.alice.other.session_id,
    );
    await fuzz(fc.record({ id, headers: withAliceToken() }), async ({ id, headers }) => {
      await sendUnchanged({ method: 'DELETE', path: `/v1/sessions/${id}`, headers });
    });
  });

  it('GET /v1/users/me/events (invalid limit or cursor)', async () => {
    const validLimit = (limit: string | undefined) => {
      if (limit === undefined) return true;
      const n = Number(limit);
      return Number.isInteger(n) && n >= 1 && n <= 100;
    };
    const query = fc
      .record(
        {
          limit: fc.oneof(
            fc.integer().map(String),
            fc.double().map(String),
            nastyString,
            fc.constantFrom('0', '101', '-1', '1.5', '1e9', 'Infinity', '0x10', ' 5 ', ''),
          ),
          cursor: fc.oneof(
            nastyString,
            b64urlString(1, 250),
            fc.constantFrom(btoa('2030-01-01T00:00:00Z|x')),
            forgedCursor(),
          ),
        },
        { requiredKeys: [] },
      )
      .filter(({ limit, cursor }) => !validLimit(limit) || (cursor !== undefined && cursor !== ''));
    await fuzz(fc.record({ query, headers: withAliceToken() }), async ({ query, headers }) => {
      const search = new URLSearchParams(
        Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined),
      );
      await sendUnchanged({ method: 'GET', path: `/v1/users/me/events?${search}`, headers });
    });
  });

  it('POST /v1/mfa/totp/activate (alice has no factor)', async () => {
    const body = fc.option(anyBody({ code: nastyValue }, fc.record({ code: codeLike })), { nil: undefined });
    await fuzz(fc.record({ body, headers: withAliceToken() }), async ({ body, headers }) => {
      await sendUnchanged({ method: 'POST', path: '/v1/mfa/totp/activate', headers, body });
    });
  });

  it.each([
    ['DELETE', '/v1/mfa/totp'],
    ['POST', '/v1/mfa/recovery-codes'],
  ] as const)('%s %s (alice has only aal1)', async (method, path) => {
    const body = fc.option(anyBody({ code: nastyValue }), { nil: undefined });
    await fuzz(fc.record({ body, headers: withAliceToken() }), async ({ body, headers }) => {
      await sendUnchanged({ method, path, headers, body });
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('NUL bytes never reach PostgreSQL (it refuses them in text: a 500 unless caught)', () => {
  const json = { 'content-type': 'application/json' };
  const STRONG = 'velvet trombone galaxy pickle 93';

  // Regression tests: each of the first three was a 500 when this file was written (the value
  // reached a text parameter: "invalid byte sequence for encoding UTF8: 0x00"); readJson now
  // refuses NUL anywhere in a JSON body (src/http/request.ts).
  it.each([
    [
      '/v1/auth/login',
      'email (rate-limit key, then findUserByEmail)',
      { email: 'n\u0000@example.com', password: 'x' },
    ],
    [
      '/v1/auth/register',
      'email (strong password: INSERT INTO users)',
      { email: 'n\u0000@example.com', password: STRONG },
    ],
    [
      '/v1/auth/register',
      'name (INSERT INTO users)',
      { email: 'nul-name@example.com', password: STRONG, name: 'A\u0000' },
    ],
    ['/v1/auth/register', 'a key', { email: 'no-at-sign', password: 'x', 'a\u0000': 1 }],
    ['/v1/auth/login', 'password', { email: 'nobody@example.com', password: 'wrong\u0000password' }],
    ['/v1/auth/login/mfa', 'mfa_token', { mfa_token: 'lkm_\u0000', code: '123456' }],
    ['/v1/auth/login/mfa', 'recovery_code', { mfa_token: 'lkm_x', recovery_code: '\u0000' }],
    ['/v1/auth/refresh', 'refresh_token', { refresh_token: 'lkr_\u0000' }],
    ['/v1/auth/refresh', 'client_id', { refresh_token: 'lkr_x', client_id: '\u0000' }],
    ['/v1/auth/logout', 'refresh_token', { refresh_token: 'lkr_\u0000' }],
  ] as const)('%s with a NUL in %s is a clean 4xx', async (path, _field, body) => {
    await sendUnchanged({ method: 'POST', path, headers: json, body: JSON.stringify(body) });
  });

  it('POST /v1/auth/login with the right password and a NUL in device_name is a 400, not a 500', async () => {
    // Was a 500 too: store.openSession's INSERT INTO refresh_tokens failed on the 0x00.
    await sendUnchanged({
      method: 'POST',
      path: '/v1/auth/login',
      headers: json,
      body: JSON.stringify({ email: fx.alice.email, password: PASSWORD, device_name: 'phone\u0000' }),
    });
  });

  it('a login through an edge whose location header decodes to a NUL is not a 500', async () => {
    const edge = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { ...ENV, LOCATION_HEADERS: 'cf-ipcity' },
    });
    const user = await registerUser(edge.app);
    const res = await call(edge.app, '/v1/auth/login', {
      body: { email: user.email, password: PASSWORD },
      headers: { 'cf-ipcity': 'Paris%00' },
    });
    // Was a 500 too: requestDevice (src/http/request.ts) decodeURIComponent()s the configured
    // location header ("Paris%00" -> "Paris\0") and store.openSession's INSERT failed on it.
    // Now control characters are dropped.
    expect(res.status, JSON.stringify(res.json)).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// Forged cursors on every paged endpoint (issue 15 §8: one on GET /v1/admin/users was a 500,
// PostgreSQL SQLSTATE 22021). A cursor is opaque to clients: anything but one we issued is a
// 400 (or, if it happens to decode to a possible position, a page), never a failed query.
// ---------------------------------------------------------------------------------------------

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** Cursors nobody issued: encodings of hostile text and bytes, broken base64, other shapes. */
function forgedCursor(): fc.Arbitrary<string> {
  const text = (value: string) => b64url(new TextEncoder().encode(value));
  return fc.oneof(
    // Text with NUL, control characters, lone surrogates (encoded as U+FFFD), long runs.
    nastyString.map(text),
    fc.string({ unit: 'binary', maxLength: 300 }).map(text),
    fc.constantFrom('\u0000', 'a\u0000b@example.com', '\u0000'.repeat(200), '\uFFFF', '\uD800').map(text),
    // Bytes that are not UTF-8 at all.
    fc.uint8Array({ minLength: 1, maxLength: 400 }).map(b64url),
    fc
      .constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00])
      .map((bytes) => b64url(Uint8Array.from(bytes))),
    // Event cursors ("<ISO date>|<uuid>") with dates and ids PostgreSQL would refuse.
    fc
      .tuple(
        fc.constantFrom(
          '0000-01-01T00:00:00Z',
          '+275760-09-13T00:00:00.000Z',
          '-000001-01-01T00:00:00Z',
          'x',
          '',
        ),
        fc.oneof(fc.uuid(), nastyString),
      )
      .map(([at, id]) => text(`${at}|${id}`)),
    // Padding, the standard alphabet, whitespace, and lengths base64 cannot have.
    fc
      .tuple(b64urlString(1, 60), fc.constantFrom('=', '==', '+', '/', ' ', '%00', '.', '\n'))
      .map(([body, extra]) => body + extra),
    b64urlString(1, 3000),
    backtracking(),
  );
}

/** 200 (the cursor decoded to some position) or a clean 400; never a 5xx. */
function pageOrBadCursor(response: FuzzResponse, request: FuzzRequest): void {
  if (response.status === 200) return;
  expectCleanError(response, request);
  expect(response.status, `${request.path}: ${response.text}`).toBe(400);
}

describe('forged cursors on every paged endpoint answer 400 or a page, never a 5xx', () => {
  let adminToken: string;
  let accountCookies: string;

  beforeAll(async () => {
    // An administrator at aal2 (TOTP, then an MFA login), for GET /v1/admin/users.
    const admin = await registerUser(lk.app);
    const activating = await login(lk.app, admin.email);
    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', {
      method: 'POST',
      token: activating.access_token,
    });
    const code = () => totpCode(enrolled.json.secret, Math.floor(lk.clock.now().getTime() / 1000));
    expect(
      (
        await call(lk.app, '/v1/mfa/totp/activate', {
          body: { code: code() },
          token: activating.access_token,
        })
      ).status,
    ).toBe(200);
    await lk.store.setUserRole(admin.id, 'admin');
    const first = await call(lk.app, '/v1/auth/login', { body: { email: admin.email, password: PASSWORD } });
    lk.clock.advance(30_000);
    const second = await call(lk.app, '/v1/auth/login/mfa', {
      body: { mfa_token: first.json.mfa_token, code: code() },
    });
    expect(second.status).toBe(200);
    adminToken = second.json.access_token;

    // A browser signed in to the account pages (its own user: alice's sessions stay two).
    const carol = await registerUser(lk.app);
    const jar = new Map<string, string>();
    const keep = (response: Response) => {
      for (const header of response.headers.getSetCookie()) {
        const [pair = ''] = header.split(';');
        const eq = pair.indexOf('=');
        jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
    };
    keep(await lk.app.request('/account/sign-in'));
    const csrf = [...jar].find(([name]) => name.includes('csrf'))?.[1] ?? '';
    const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const signedIn = await lk.app.request('/account/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie() },
      body: new URLSearchParams({ csrf, email: carol.email, password: PASSWORD }).toString(),
    });
    expect(signedIn.status).toBe(303);
    keep(signedIn);
    accountCookies = cookie();
  });

  const query = (cursor: string) => new URLSearchParams({ cursor }).toString();

  it('GET /v1/admin/users', async () => {
    await fuzz(
      fc.record({
        cursor: forgedCursor(),
        q: fc.option(fc.constantFrom('a', 'user', '%', '_'), { nil: undefined }),
      }),
      async ({ cursor, q }) => {
        const search = new URLSearchParams({ cursor, ...(q ? { q } : {}) });
        await sendUnchanged(
          {
            method: 'GET',
            path: `/v1/admin/users?${search}`,
            headers: { authorization: `Bearer ${adminToken}` },
          },
          pageOrBadCursor,
        );
      },
    );
  });

  it('GET /v1/users/me/events', async () => {
    await fuzz(forgedCursor(), async (cursor) => {
      await sendUnchanged(
        {
          method: 'GET',
          path: `/v1/users/me/events?${query(cursor)}`,
          headers: { authorization: `Bearer ${fx.alice.pair.access_token}` },
        },
        pageOrBadCursor,
      );
    });
  });

  it('GET /account/activity (an HTML page: a page or a 400 page)', async () => {
    await fuzz(forgedCursor(), async (cursor) => {
      await sendUnchanged(
        { method: 'GET', path: `/account/activity?${query(cursor)}`, headers: { cookie: accountCookies } },
        (response, request) => {
          expect(
            [200, 400],
            `${request.path} -> ${response.status} ${response.text.slice(0, 200)}`,
          ).toContain(response.status);
        },
      );
    });
  });

  it('a cursor the server issued still pages (the checks refuse forgeries only)', async () => {
    const first = await call(lk.app, '/v1/admin/users?limit=1', { token: adminToken });
    expect(first.status).toBe(200);
    expect(first.json.next_cursor).toEqual(expect.any(String));
    const next = await call(
      lk.app,
      `/v1/admin/users?limit=1&cursor=${encodeURIComponent(first.json.next_cursor)}`,
      {
        token: adminToken,
      },
    );
    expect(next.status).toBe(200);
    expect(next.json.users[0].email > first.json.users[0].email).toBe(true);
  });

  it('regression: a cursor holding a NUL is a 400 on GET /v1/admin/users (was a 500, SQLSTATE 22021)', async () => {
    for (const value of ['\u0000', 'a\u0000', `${'z'.repeat(10)}\u0000@example.com`]) {
      const cursor = b64url(new TextEncoder().encode(value));
      const res = await call(lk.app, `/v1/admin/users?cursor=${cursor}`, { token: adminToken });
      expect(res.status, JSON.stringify(res.json)).toBe(400);
      expect(res.json.error).toBe('invalid_request');
    }
  });
});

/** `length` code points from [from, to], spread by a fixed LCG: varied text that does not compress. */
function incompressible(length: number, from: number, to: number): string {
  let state = 20261124;
  let text = '';
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const code = from + (state % (to - from + 1));
    // Surrogates are not characters; "x" stands in.
    text += code >= 0xd800 && code <= 0xdfff ? 'x' : String.fromCodePoint(code);
  }
  return text;
}

describe('long and unicode emails are clean 4xx answers (issue 15 §8)', () => {
  // Each is at most 1024 code points, so it passes the login schema and reaches the throttle's
  // keys, the user lookup and the events: 3 KB, 4 KB and (after NFKC) ~50 KB of UTF-8.
  it.each([
    // Varied text: PostgreSQL compresses a long key of runs, which may then fit in an index.
    ['3 KB (1000 characters of the BMP)', `${incompressible(1000, 0x100, 0xfffd)}@example.com`],
    ['4 KB (1000 characters beyond the BMP)', `${incompressible(1000, 0x10000, 0x10fffd)}@example.com`],
    ['~50 KB after NFKC (1000 × U+FDFA)', `${'\uFDFA'.repeat(1000)}@example.com`],
    ['8 KB of combining marks', `a${'\u0301'.repeat(1000)}@example.com`.slice(0, 1024)],
  ])('POST /v1/auth/login with a %s email: 401, then 429 at most', async (_label, email) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      await sendUnchanged(
        {
          method: 'POST',
          path: '/v1/auth/login',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: 'wrong password' }),
        },
        (response, request) => {
          expectCleanError(response, request);
          expect([401, 429], response.text).toContain(response.status);
        },
      );
    }
  });

  it.each([
    ['3 KB', `${incompressible(1000, 0x100, 0xfffd)}@example.com`],
    ['254-character unicode', `${'ü'.repeat(240)}@example.com`.slice(0, 254)],
  ])('POST /v1/auth/register with a %s email: a clean answer, never a 5xx', async (_label, email) => {
    const res = await call(lk.app, '/v1/auth/register', { body: { email, password: 'wrong' } });
    expect(res.status, JSON.stringify(res.json)).toBeGreaterThanOrEqual(400);
    expect(res.status, JSON.stringify(res.json)).toBeLessThan(500);
  });
});

describe('afterwards', () => {
  it('the fixtures still work: nothing above revoked or changed them', async () => {
    expect((await call(lk.app, '/v1/users/me', { token: fx.alice.pair.access_token })).status).toBe(200);
    const sessions = await call(lk.app, '/v1/sessions', { token: fx.alice.pair.access_token });
    expect(sessions.json.sessions).toHaveLength(2);
    expect(
      (await call(lk.app, '/v1/auth/login', { body: { email: fx.alice.email, password: PASSWORD } })).status,
    ).toBe(200);
  });

  it('no prototype was polluted', () => {
    // biome-ignore lint/suspicious/noExplicitAny: probing for a polluted prototype
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
    // biome-ignore lint/suspicious/noExplicitAny: probing for a polluted prototype
    expect((Object as any).polluted).toBeUndefined();
  });
});

afterAll(() => {
  // biome-ignore lint/suspicious/noExplicitAny: leave no pollution behind, should there be any
  delete (Object.prototype as any).polluted;
});
