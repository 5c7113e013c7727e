import { and, desc, eq } from 'drizzle-orm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { outbox } from '../src/adapters/db/schema.js';
import { createJsonLogger } from '../src/adapters/json-logger.js';
import { createPinoLogger } from '../src/adapters/pino-logger.js';
import { unsealMailMessage } from '../src/services/mail-sealing.js';
import { KEYS } from './http/password-reset-harness.js';
import { type CallOptions, call, decodeJwtPart } from './support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  TEST_MASTER_SECRET,
  uniqueEmail,
  useDatabase,
} from './support/harness.js';
import { totpCode } from './support/totp.js';

/**
 * The issue's promise: structured logs carry the request id, route, status, latency, user and
 * session ids, and never a password, token, code, secret or full IP. A full flow runs through
 * the HTTP app with the Node (pino) logger writing into memory; then the whole log output is
 * searched for every secret the flow used or received.
 */

const SECOND = 1000;
const STEP = 30 * SECOND;
const APP_ORIGIN = 'https://app.example.com'; // the harness's ALLOWED_ORIGINS
const COOKIE_NAME = '__Secure-latchkey_refresh';
const CLIENT_IP = '203.0.113.7'; // the harness's default clientIp
/** A field explicitly for the client's address; the logs have none today. */
const IP_FIELD = /(^|\.)(client_)?ip(_address)?$/;
const RS_ID = 'rs1';
const RS_SECRET = 'rs1-logs-0123456789abcdefghijklmnopqrstu';
const OLD_PASSWORD = 'quartz lanterns drift over amber harbours';
const NEW_PASSWORD = 'seven herons fold paper under violet rain';
const WRONG_PASSWORD = 'marble otters juggle nineteen brass kettles';

type LogLine = Record<string, unknown>;

/** A pino destination that keeps what it is given. */
function memoryDestination() {
  const chunks: string[] = [];
  return {
    chunks,
    write(chunk: string) {
      chunks.push(chunk);
    },
    text: () => chunks.join(''),
    lines: (): LogLine[] =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.trim().length > 0)
        .map((line) => JSON.parse(line) as LogLine),
  };
}

/** Every string (or number) leaf of a log line, with the path of the field that holds it. */
function leaves(value: unknown, path = ''): { path: string; value: string }[] {
  if (typeof value === 'string' || typeof value === 'number') return [{ path, value: String(value) }];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => leaves(item, path ? `${path}.${key}` : key));
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------------------------

describe('the pino logger', () => {
  it('writes one JSON line with an ISO time, the level name, msg and service', () => {
    const destination = memoryDestination();
    createPinoLogger('debug', { destination }).warn('hello', { request_id: 'r1', status: 200 });
    const [line] = destination.lines();
    expect(line).toMatchObject({
      level: 'warn',
      msg: 'hello',
      service: 'latchkey',
      request_id: 'r1',
      status: 200,
    });
    expect(line!.time).toEqual(expect.any(String));
    expect(new Date(line!.time as string).toISOString()).toBe(line!.time);
    expect(line).not.toHaveProperty('hostname');
  });

  it('redacts secret-named fields at the top level and nested, with [redacted]', () => {
    const destination = memoryDestination();
    const logger = createPinoLogger('debug', { destination });
    logger.info('x', { password: 'p1', nested: { refresh_token: 't1' } });
    const text = destination.text();
    expect(text).not.toContain('p1');
    expect(text).not.toContain('t1');
    expect(text).toContain('[redacted]');
    expect(destination.lines()[0]).toMatchObject({
      password: '[redacted]',
      nested: { refresh_token: '[redacted]' },
    });
  });

  it('redacts every listed name, two objects deep, and in arrays of objects', () => {
    const destination = memoryDestination();
    const logger = createPinoLogger('debug', { destination });
    const names = [
      'password',
      'access_token',
      'refresh_token',
      'mfa_token',
      'code',
      'recovery_code',
      'secret',
      'authorization',
      'cookie',
      'client_secret',
      'master_secret',
      'set-cookie',
    ];
    const fields = Object.fromEntries(names.map((name, index) => [name, `leak-top-${index}`]));
    const nested = Object.fromEntries(names.map((name, index) => [name, `leak-nested-${index}`]));
    const deep = Object.fromEntries(names.map((name, index) => [name, `leak-deep-${index}`]));
    logger.error('x', {
      ...fields,
      headers: nested,
      body: { inner: deep },
      items: [{ password: 'leak-item' }],
    });
    expect(destination.text()).not.toContain('leak-');
  });

  it('honours the level: warn drops info, silent drops everything', () => {
    const destination = memoryDestination();
    const warn = createPinoLogger('warn', { destination });
    warn.info('dropped');
    warn.error('kept');
    createPinoLogger('silent', { destination }).error('dropped too');
    expect(destination.lines().map((line) => line.msg)).toEqual(['kept']);
  });
});

describe('the JSON-lines logger (Workers)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('redacts the same field names, at any depth', () => {
    const written: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => written.push(line));
    createJsonLogger('debug').info('x', {
      password: 'p1',
      nested: { refresh_token: 't1', deeper: { even: { cookie: 'c1' } } },
      list: [{ code: '123456' }],
      user_id: 'u1',
    });
    const text = written.join('\n');
    for (const secret of ['p1', 't1', 'c1', '123456']) expect(text).not.toContain(secret);
    expect(JSON.parse(written[0]!)).toMatchObject({ msg: 'x', password: '[redacted]', user_id: 'u1' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('a full flow through the HTTP app', () => {
  const database = useDatabase();
  const destination = memoryDestination();
  let lk: Latchkey;

  /** Every secret the flow used or received, with a label for the failure message. */
  const secrets: { label: string; value: string; short?: boolean }[] = [];
  const keep = (label: string, value: unknown) => {
    expect(typeof value, label).toBe('string');
    expect((value as string).length, label).toBeGreaterThan(0);
    secrets.push({ label, value: value as string });
  };
  const keepCode = (label: string, value: string) => secrets.push({ label, value, short: true });
  const keepJwt = (label: string, token: unknown) => {
    keep(label, token);
    const signature = (token as string).split('.')[2];
    keep(`${label} (signature)`, signature);
  };
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  const keepTokens = (label: string, json: any) => {
    keepJwt(`${label}.access_token`, json.access_token);
    if (json.refresh_token !== undefined) keep(`${label}.refresh_token`, json.refresh_token);
  };

  /** The token in the link of the user's newest mail of `kind`, read as its recipient would. */
  async function linkTokenOf(userId: string, kind: string): Promise<string> {
    const [row] = await database.current.db
      .select()
      .from(outbox)
      .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
      .orderBy(desc(outbox.createdAt))
      .limit(1);
    const mail = await unsealMailMessage(await KEYS, row!.id, row!.payload!);
    return new URL(mail.text.match(/http:\/\/\S+token=\S+/)![0]).searchParams.get('token')!;
  }

  /** Every request the flow made, by its X-Request-Id; authenticated ones with their caller. */
  const requests: { id: string; path: string; caller?: { sub: string; sid: string } }[] = [];

  async function send(path: string, options: CallOptions = {}) {
    const res = await call(lk.app, path, options);
    const id = res.headers.get('x-request-id');
    expect(id, path).toEqual(expect.any(String));
    const caller = options.token
      ? (decodeJwtPart(options.token, 1) as { sub: string; sid: string })
      : undefined;
    requests.push({ id: id!, path, ...(caller ? { caller } : {}) });
    return res;
  }

  const form = (path: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
    send(path, {
      method: 'POST',
      rawBody: new URLSearchParams(params).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });

  const refreshCookieOf = (res: { headers: Headers }) => {
    const raw = res.headers.getSetCookie().find((line) => line.startsWith(`${COOKIE_NAME}=`));
    expect(raw).toBeDefined();
    return raw!.split(';')[0]!.slice(COOKIE_NAME.length + 1);
  };

  const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
  /** A fresh TOTP code: each code is accepted once, so move to the next time step first. */
  const nextCode = (secret: string, label: string) => {
    lk.clock.advance(STEP);
    const code = totpCode(secret, nowSeconds());
    keepCode(label, code);
    return code;
  };

  beforeAll(async () => {
    lk = await buildLatchkey(database.current, {
      logger: createPinoLogger('debug', { destination }),
      env: { INTROSPECTION_CLIENTS: `${RS_ID}:${RS_SECRET}` },
    });
    expect(RS_SECRET).toHaveLength(40);
    keep('MASTER_SECRET', TEST_MASTER_SECRET);
    keep('introspection client secret', RS_SECRET);
    keep('old password', OLD_PASSWORD);
    keep('new password', NEW_PASSWORD);
    keep('wrong password', WRONG_PASSWORD);
    const basicAuth = `Basic ${Buffer.from(`${RS_ID}:${RS_SECRET}`).toString('base64')}`;
    keep('introspection Authorization header', basicAuth.slice('Basic '.length));

    let email = uniqueEmail('logs');

    // Register, a wrong password, a login with body delivery.
    expect((await send('/v1/auth/register', { body: { email, password: OLD_PASSWORD } })).status).toBe(201);
    const wrong = await send('/v1/auth/login', { body: { email, password: WRONG_PASSWORD } });
    expect(wrong.status).toBe(401);
    const first = await send('/v1/auth/login', { body: { email, password: OLD_PASSWORD } });
    expect(first.status).toBe(200);
    keepTokens('login', first.json);
    expect((await send('/v1/users/me', { token: first.json.access_token })).status).toBe(200);

    // The address (issue #17): the verification link, then an email change asked for and
    // confirmed; every link's token is a secret, and so is each sealed outbox body.
    const userId = decodeJwtPart(first.json.access_token, 1).sub as string;
    const verifyToken = await linkTokenOf(userId, 'verify_email');
    keep('verification link token', verifyToken);
    expect((await send('/v1/auth/email/verify', { body: { token: verifyToken } })).status).toBe(200);
    const moved = uniqueEmail('logs-moved');
    const asked = await send('/v1/users/me/email', {
      token: first.json.access_token,
      body: { email: moved, password: OLD_PASSWORD },
    });
    expect(asked.status).toBe(202);
    const confirmToken = await linkTokenOf(userId, 'confirm_email_change');
    keep('email change link token', confirmToken);
    keep('email revert link token', await linkTokenOf(userId, 'email_change_notice'));
    expect((await send('/v1/auth/email/change/confirm', { body: { token: confirmToken } })).status).toBe(200);
    email = moved; // the rest of the flow signs in with the new address
    for (const row of await database.current.db.select({ payload: outbox.payload }).from(outbox))
      if (row.payload) keep('sealed outbox body', row.payload);

    // Refresh, then reuse of the rotated-out token after the grace period.
    const rotated = await send('/v1/auth/refresh', { body: { refresh_token: first.json.refresh_token } });
    expect(rotated.status).toBe(200);
    keepTokens('refresh', rotated.json);
    lk.clock.advance(11 * SECOND);
    const reused = await send('/v1/auth/refresh', { body: { refresh_token: first.json.refresh_token } });
    expect(reused.status).toBe(401);
    expect(reused.json.error).toBe('refresh_token_reused');

    // Cookie delivery: login, then a refresh from the cookie alone, from the allowed origin.
    const cookieLogin = await send('/v1/auth/login', {
      body: { email, password: OLD_PASSWORD, delivery: 'cookie' },
    });
    expect(cookieLogin.status).toBe(200);
    expect(cookieLogin.json.refresh_token).toBeUndefined();
    keepTokens('cookie login', cookieLogin.json);
    const firstCookie = refreshCookieOf(cookieLogin);
    keep('refresh cookie', firstCookie);
    const cookieRefresh = await send('/v1/auth/refresh', {
      method: 'POST',
      headers: { cookie: `${COOKIE_NAME}=${firstCookie}`, origin: APP_ORIGIN },
    });
    expect(cookieRefresh.status).toBe(200);
    keepTokens('cookie refresh', cookieRefresh.json);
    const secondCookie = refreshCookieOf(cookieRefresh);
    keep('rotated refresh cookie', secondCookie);

    // TOTP: enroll and activate (a fresh login: enrolling needs a recent authentication).
    const forMfa = await send('/v1/auth/login', { body: { email, password: OLD_PASSWORD } });
    expect(forMfa.status).toBe(200);
    keepTokens('login before enrolling', forMfa.json);
    const enrolled = await send('/v1/mfa/totp/enroll', { method: 'POST', token: forMfa.json.access_token });
    expect(enrolled.status).toBe(200);
    const secret: string = enrolled.json.secret;
    keep('TOTP secret', secret);
    keep('TOTP secret (lower case)', secret.toLowerCase());
    keep('otpauth URI', enrolled.json.otpauth_uri);
    const activationCode = totpCode(secret, nowSeconds());
    keepCode('activation code', activationCode);
    const activated = await send('/v1/mfa/totp/activate', {
      body: { code: activationCode },
      token: forMfa.json.access_token,
    });
    expect(activated.status).toBe(200);
    const recoveryCodes: string[] = activated.json.recovery_codes;
    expect(recoveryCodes).toHaveLength(10);
    recoveryCodes.forEach((code, index) => {
      keep(`recovery code ${index}`, code);
      keep(`recovery code ${index} (no dashes)`, code.replace(/-/g, ''));
    });

    // MFA login with a code, then with a recovery code.
    const withCode = await send('/v1/auth/login', { body: { email, password: OLD_PASSWORD } });
    expect(withCode.json.mfa_required).toBe(true);
    keep('mfa_token (code)', withCode.json.mfa_token);
    const mfaLogin = await send('/v1/auth/login/mfa', {
      body: { mfa_token: withCode.json.mfa_token, code: nextCode(secret, 'login code') },
    });
    expect(mfaLogin.status).toBe(200);
    keepTokens('mfa login', mfaLogin.json);
    const withRecovery = await send('/v1/auth/login', { body: { email, password: OLD_PASSWORD } });
    keep('mfa_token (recovery)', withRecovery.json.mfa_token);
    const recoveryLogin = await send('/v1/auth/login/mfa', {
      body: { mfa_token: withRecovery.json.mfa_token, recovery_code: recoveryCodes[0] },
    });
    expect(recoveryLogin.status).toBe(200);
    keepTokens('recovery login', recoveryLogin.json);

    // Step-up with the password, then with a code.
    const steppedPwd = await send('/v1/auth/step-up', {
      body: { password: OLD_PASSWORD },
      token: recoveryLogin.json.access_token,
    });
    expect(steppedPwd.status).toBe(200);
    keepTokens('step-up (password)', steppedPwd.json);
    const steppedCode = await send('/v1/auth/step-up', {
      body: { code: nextCode(secret, 'step-up code') },
      token: steppedPwd.json.access_token,
    });
    expect(steppedCode.status).toBe(200);
    keepTokens('step-up (code)', steppedCode.json);
    const current = steppedCode.json.access_token as string;

    // Password change (old and new), then the old password is a wrong one.
    const changed = await send('/v1/users/me/password', {
      body: { current_password: OLD_PASSWORD, new_password: NEW_PASSWORD },
      token: current,
    });
    expect(changed.status).toBe(204);
    const oldAgain = await send('/v1/auth/login', { body: { email, password: OLD_PASSWORD } });
    expect(oldAgain.status).toBe(401);
    const afterChange = await send('/v1/auth/login', { body: { email, password: NEW_PASSWORD } });
    keep('mfa_token (after change)', afterChange.json.mfa_token);
    const relogin = await send('/v1/auth/login/mfa', {
      body: { mfa_token: afterChange.json.mfa_token, code: nextCode(secret, 'login code after change') },
    });
    expect(relogin.status).toBe(200);
    keepTokens('login after change', relogin.json);

    // The OAuth endpoints: the refresh grant in a form body, introspection, revocation.
    const granted = await form('/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: relogin.json.refresh_token,
    });
    expect(granted.status).toBe(200);
    keepTokens('/oauth/token', granted.json);
    const introspected = await form(
      '/oauth/introspect',
      { token: granted.json.access_token },
      { authorization: basicAuth },
    );
    expect(introspected.status).toBe(200);
    expect(introspected.json.active).toBe(true);
    const introspectedPost = await form('/oauth/introspect', {
      token: granted.json.refresh_token,
      client_id: RS_ID,
      client_secret: RS_SECRET,
    });
    expect(introspectedPost.status).toBe(200);
    const wrongClient = await form('/oauth/introspect', {
      token: granted.json.access_token,
      client_id: RS_ID,
      client_secret: `${RS_SECRET}-wrong`,
    });
    expect(wrongClient.status).toBe(401);
    expect((await form('/oauth/revoke', { token: granted.json.refresh_token })).status).toBe(200);

    // The session list, then logout: Bearer, refresh token in the body, cookie.
    expect((await send('/v1/sessions', { token: current })).status).toBe(200);
    const another = await send('/v1/auth/login', { body: { email, password: NEW_PASSWORD } });
    keep('mfa_token (last)', another.json.mfa_token);
    const last = await send('/v1/auth/login/mfa', {
      body: { mfa_token: another.json.mfa_token, code: nextCode(secret, 'last login code') },
    });
    expect(last.status).toBe(200);
    keepTokens('last login', last.json);
    expect((await send('/v1/auth/logout', { body: { refresh_token: last.json.refresh_token } })).status).toBe(
      204,
    );
    expect(
      (
        await send('/v1/auth/logout', {
          method: 'POST',
          headers: { cookie: `${COOKIE_NAME}=${secondCookie}`, origin: APP_ORIGIN },
        })
      ).status,
    ).toBe(204);
    expect((await send('/v1/auth/logout', { method: 'POST', token: current })).status).toBe(204);
  });

  it('the log output contains none of the secrets the flow used or received', () => {
    const lines = destination.lines();
    expect(lines.length).toBeGreaterThan(requests.length);
    expect(secrets.length).toBeGreaterThan(40);
    const text = destination.text();
    // Where a secret appears, name the line and the field that carries it.
    const leaks: string[] = [];
    for (const secret of secrets) {
      // A 6-digit code could occur by chance inside an id: for codes, only a whole token counts.
      const pattern = new RegExp(`(?<![0-9A-Za-z])${escapeRegExp(secret.value)}(?![0-9A-Za-z])`);
      const contains = (haystack: string) =>
        secret.short ? pattern.test(haystack) : haystack.includes(secret.value);
      if (!contains(text)) continue;
      const where = lines.flatMap((line, index) =>
        leaves(line)
          .filter((leaf) => contains(leaf.value))
          .map((leaf) => `${secret.label} in line ${index} ("${line.msg}") field ${leaf.path}`),
      );
      leaks.push(...(where.length > 0 ? where : [`${secret.label} (in the raw text)`]));
    }
    expect(leaks).toEqual([]);
  });

  it('the client IP appears in no field (no field is named for it)', () => {
    const misplaced = destination.lines().flatMap((line, index) =>
      leaves(line)
        .filter((leaf) => leaf.value.includes(CLIENT_IP))
        .filter((leaf) => !IP_FIELD.test(leaf.path))
        .map((leaf) => `line ${index} ("${line.msg}") field ${leaf.path}`),
    );
    expect(misplaced).toEqual([]);
    const named = destination
      .lines()
      .some((line) => leaves(line).some((leaf) => leaf.path !== '' && IP_FIELD.test(leaf.path)));
    if (!named) expect(destination.text()).not.toContain(CLIENT_IP);
  });

  it('logs each request once with its request id, route, status and latency', () => {
    const lines = destination.lines();
    const requestLines = lines.filter((line) => line.msg === 'request');
    expect(requestLines).toHaveLength(requests.length);
    for (const line of requestLines) {
      // A successful refresh is logged at debug (at info it is in the refresh summary).
      const summarised =
        (line.status as number) < 400 && ['/v1/auth/refresh', '/oauth/token'].includes(line.route as string);
      expect(line).toMatchObject({
        level: summarised ? 'debug' : 'info',
        service: 'latchkey',
        request_id: expect.any(String),
        method: expect.any(String),
        route: expect.stringMatching(/^\//),
        status: expect.any(Number),
        latency_ms: expect.any(Number),
      });
      expect(line.latency_ms as number).toBeGreaterThanOrEqual(0);
    }
    const byId = new Map(requestLines.map((line) => [line.request_id as string, line]));
    for (const request of requests) expect(byId.has(request.id), request.path).toBe(true);
    // Routes are templates, never paths with values in them.
    expect(requestLines.map((line) => line.route)).toContain('/v1/auth/login');
    expect(requestLines.map((line) => line.route)).toContain('/oauth/introspect');
  });

  it('an authenticated request names its user and session; an anonymous one does not', () => {
    const byId = new Map(
      destination
        .lines()
        .filter((line) => line.msg === 'request')
        .map((line) => [line.request_id as string, line]),
    );
    const guarded = requests.filter(
      (request) =>
        request.caller && !request.path.startsWith('/v1/auth/logout') && byId.get(request.id)?.status !== 401,
    );
    expect(guarded.map((request) => request.path)).toEqual(
      expect.arrayContaining([
        '/v1/users/me',
        '/v1/mfa/totp/enroll',
        '/v1/mfa/totp/activate',
        '/v1/auth/step-up',
        '/v1/users/me/password',
        '/v1/sessions',
      ]),
    );
    for (const request of guarded) {
      expect(byId.get(request.id), request.path).toMatchObject({
        user_id: request.caller!.sub,
        session_id: request.caller!.sid,
      });
    }
    for (const request of requests.filter((request) => request.path === '/v1/auth/register')) {
      expect(byId.get(request.id)).not.toHaveProperty('user_id');
    }
  });

  it('security events are logged with the request id of their request, type, user and session', () => {
    const lines = destination.lines();
    const requestIds = new Set(requests.map((request) => request.id));
    const events = lines.filter((line) => line.msg === 'security event');
    expect(events.map((line) => line.type)).toEqual(
      expect.arrayContaining([
        'user_registered',
        'login_failed',
        'login_succeeded',
        'refresh_token_reused',
        'mfa_enabled',
        'recovery_code_used',
        'step_up',
        'password_changed',
      ]),
    );
    for (const line of events) {
      expect(requestIds.has(line.request_id as string)).toBe(true);
      expect(line).toMatchObject({ type: expect.any(String), user_id: expect.any(String) });
      expect(line).toHaveProperty('session_id');
    }
  });
});
