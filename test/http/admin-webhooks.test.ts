import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outbox, webhookEndpoints } from '../../src/adapters/db/schema.js';
import { createNodeWebhookSender, type WebhookLookup } from '../../src/adapters/webhooks/node-sender.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhook-events.js';
import type { LatchkeyApp } from '../../src/http/app.js';
import * as R from '../../src/http/responses.js';
import type { Logger } from '../../src/ports/logger.js';
import { call, decodeJwtPart, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, TestClock, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';
import { startReceiver } from '../webhooks/receiver.js';

/**
 * The admin API for webhooks (issue #18, Operators) against a REAL receiver on a free port that
 * verifies every delivery with the `standardwebhooks` package, through the Node sender: the
 * guard of every route, bad input, the secret shown once, a test event, the delivery log, a
 * failed delivery replayed under its webhook-id, and SSRF: private targets refused outside
 * development, a name resolving to 127.0.0.1 accepted at registration and refused at connect
 * time, https: required in production.
 */

const database = useDatabase();
const HOUR = 3_600_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ENDPOINT_FIELDS = [
  'consecutive_failures',
  'created_at',
  'description',
  'disabled_at',
  'disabled_reason',
  'enabled',
  'event_types',
  'id',
  'last_success_at',
  'previous_secret_expires_at',
  'updated_at',
  'url',
].sort();
const DELIVERY_FIELDS = [
  'attempts',
  'created_at',
  'id',
  'last_error',
  'last_status',
  'next_attempt_at',
  'sent_at',
  'status',
  'type',
  'webhook_id',
].sort();

/** Every log line the app writes, to check the audit lines and that no secret is logged. */
const logged: { level: string; message: string; fields: Record<string, unknown> }[] = [];
const recordingLogger: Logger = {
  info: (message, fields = {}) => logged.push({ level: 'info', message, fields }),
  warn: (message, fields = {}) => logged.push({ level: 'warn', message, fields }),
  error: (message, fields = {}) => logged.push({ level: 'error', message, fields }),
};

let clock: TestClock;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
/** The secret the receiver verifies with (the endpoint's, or an old one after a rotation). */
let receiverSecret: string | undefined;
/** Development: WEBHOOK_ALLOW_PRIVATE=true, the Node sender allowed private addresses (the receiver is on 127.0.0.1). */
let lk: Latchkey;
/**
 * Outside development (WEBHOOK_ALLOW_PRIVATE unset): the Node sender with an injected resolver
 * that answers 127.0.0.1 for hooks.example.com, as a DNS rebinding attacker's would.
 */
let strict: Latchkey;
const lookedUp: string[] = [];
const rebindingLookup: WebhookLookup = async (hostname) => {
  lookedUp.push(hostname);
  if (hostname === 'hooks.example.com') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
};

beforeAll(async () => {
  clock = new TestClock();
  receiver = await startReceiver({ secret: () => receiverSecret, now: () => clock.now().getTime() });
  lk = await buildLatchkey(database.current, {
    clock,
    // A delivery is retried for a minute only, so a failing one fails for good in a few runs.
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_FOR: '60' },
    webhookSender: createNodeWebhookSender({ allowPrivate: true, userAgent: 'test' }),
    logger: recordingLogger,
  });
  strict = await buildLatchkey(database.current, {
    clock,
    webhookSender: createNodeWebhookSender({
      allowPrivate: false,
      userAgent: 'test',
      lookup: rebindingLookup,
    }),
  });
});
afterAll(async () => {
  await receiver?.close();
});
// Each test leaves no endpoint behind: no dispatcher run of a later test sees another's.
afterEach(async () => {
  for (const endpoint of await lk.webhooks.listEndpoints()) await lk.webhooks.deleteEndpoint(endpoint.id);
  receiver.answerWith(() => 200);
});

// ---------------------------------------------------------------------------------------------
// Admins: a user with TOTP, the admin role and an aal2 session (as in admin.test.ts).
// ---------------------------------------------------------------------------------------------

const codeNow = (secret: string) => {
  clock.advance(30_000);
  return totpCode(secret, Math.floor(clock.now().getTime() / 1000));
};

/**
 * A user with TOTP (and the admin role unless told otherwise); `token()` is an aal2 access
 * token, signed in again with a fresh code once the clock has moved on (the delivery tests
 * advance it by hours, past the access token's 15 minutes).
 */
async function aal2Admin(app: LatchkeyApp, role: 'admin' | 'user' = 'admin') {
  const user = await registerUser(app);
  const first = await login(app, user.email);
  const enrolled = await call(app, '/v1/mfa/totp/enroll', { method: 'POST', token: first.access_token });
  const secret: string = enrolled.json.secret;
  const activated = await call(app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: first.access_token,
  });
  expect(activated.status).toBe(200);
  if (role === 'admin') expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
  let current: { token: string; at: number } | undefined;
  return {
    id: user.id,
    async token(): Promise<string> {
      if (current && clock.now().getTime() - current.at < 5 * 60_000) return current.token;
      const started = await call(app, '/v1/auth/login', { body: { email: user.email, password: PASSWORD } });
      const res = await call(app, '/v1/auth/login/mfa', {
        body: { mfa_token: started.json.mfa_token, code: codeNow(secret) },
      });
      expect(res.status).toBe(200);
      expect(decodeJwtPart(res.json.access_token, 1).acr).toBe('aal2');
      current = { token: res.json.access_token, at: clock.now().getTime() };
      return current.token;
    },
  };
}

const aal2Session = async (app: LatchkeyApp, role: 'admin' | 'user' = 'admin') =>
  (await aal2Admin(app, role)).token();

type Admin = Awaited<ReturnType<typeof aal2Admin>>;
let bossAdmin: Admin;
let strictAdmin: Admin;
beforeAll(async () => {
  bossAdmin = await aal2Admin(lk.app);
  strictAdmin = await aal2Admin(strict.app);
});

/** The admins of the two apps: a token that is always fresh. */
const BOSS = Symbol('boss');
const STRICT_BOSS = Symbol('strict boss');
const boss: typeof BOSS = BOSS;
const strictBoss: typeof STRICT_BOSS = STRICT_BOSS;

async function api(
  who: string | undefined | typeof BOSS | typeof STRICT_BOSS,
  path: string,
  options: { method?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  app: LatchkeyApp = lk.app,
) {
  const token =
    who === BOSS ? await bossAdmin.token() : who === STRICT_BOSS ? await strictAdmin.token() : who;
  return call(app, `/v1/admin/webhooks${path}`, {
    method: options.method ?? (options.body !== undefined || options.rawBody !== undefined ? 'POST' : 'GET'),
    ...(token ? { token } : {}),
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.rawBody !== undefined ? { rawBody: options.rawBody } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
}

function expectError(res: { status: number; json: Record<string, unknown> }, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.json.error).toBe(error);
  expect(typeof res.json.error_description).toBe('string');
}

/** Registers an endpoint at the receiver over the API; the receiver verifies with its secret. */
async function register(body: Record<string, unknown> = {}) {
  const res = await api(boss, '', { body: { url: receiver.url, ...body } });
  expect(res.status).toBe(201);
  receiverSecret = res.json.secret;
  return { endpoint: res.json.endpoint, secret: res.json.secret as string };
}

const deliveryRows = (endpointId: string) =>
  database.current.db.select().from(outbox).where(eq(outbox.endpointId, endpointId));

/** Dispatcher runs with the clock moving on, until nothing of this endpoint is pending. */
async function deliverAll(endpointId: string, latchkey: Latchkey = lk) {
  for (let run = 0; run < 40; run++) {
    await latchkey.webhooks.dispatcher!.drain();
    if ((await deliveryRows(endpointId)).every((row) => row.status !== 'pending')) return;
    clock.advance(HOUR);
  }
  throw new Error('deliveries still pending after 40 runs');
}

// ---------------------------------------------------------------------------------------------

describe('the guard of /v1/admin/webhooks', () => {
  it('refuses no token (401), an admin at aal1 (401 insufficient_user_authentication) and a non-admin (403) on every route', async () => {
    const id = crypto.randomUUID();
    const routes: [string, string, unknown?][] = [
      ['POST', '', { url: receiver.url }],
      ['GET', ''],
      ['GET', `/${id}`],
      ['PATCH', `/${id}`, { enabled: false }],
      ['DELETE', `/${id}`],
      ['POST', `/${id}/rotate-secret`],
      ['POST', `/${id}/test`],
      ['GET', `/${id}/deliveries`],
      ['POST', `/deliveries/${id}/replay`],
    ];
    const aal1 = await registerUser(lk.app);
    await lk.store.setUserRole(aal1.id, 'admin');
    const aal1Token = (await login(lk.app, aal1.email)).access_token;
    const user = await aal2Session(lk.app, 'user');
    for (const [method, path, body] of routes) {
      const options = { method, ...(body ? { body } : {}) };
      expectError(await api(undefined, path, options), 401, 'invalid_token');
      const stepUp = await api(aal1Token, path, options);
      expectError(stepUp, 401, 'insufficient_user_authentication');
      expect(stepUp.headers.get('www-authenticate')).toContain('acr_values="aal2"');
      expectError(await api(user, path, options), 403, 'forbidden');
    }
    // Nothing was registered while refusing.
    expect(await lk.webhooks.listEndpoints()).toEqual([]);
  });
});

describe('POST /v1/admin/webhooks', () => {
  it('registers an endpoint and shows its secret once: no later answer, and no log line, holds it', async () => {
    const res = await api(boss, '', {
      body: {
        url: receiver.url,
        event_types: ['user.created', 'session.revoked'],
        description: '  Orders app ',
      },
    });
    expect(res.status).toBe(201);
    R.WebhookEndpointWithSecret.parse(res.json);
    const { endpoint, secret } = res.json;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Object.keys(endpoint).sort()).toEqual(ENDPOINT_FIELDS);
    expect(endpoint).toMatchObject({
      url: receiver.url,
      description: 'Orders app',
      event_types: ['session.revoked', 'user.created'],
      enabled: true,
      consecutive_failures: 0,
      last_success_at: null,
      disabled_at: null,
      previous_secret_expires_at: null,
      created_at: clock.now().toISOString(),
    });
    expect(endpoint.id).toMatch(UUID);

    const secretPart = secret.slice('whsec_'.length);
    const later = [
      await api(boss, ''),
      await api(boss, `/${endpoint.id}`),
      await api(boss, `/${endpoint.id}`, { method: 'PATCH', body: { description: 'renamed' } }),
      await api(boss, `/${endpoint.id}/deliveries`),
    ];
    for (const answer of later) {
      expect(answer.status).toBe(200);
      expect(JSON.stringify(answer.json)).not.toContain(secretPart);
    }
    R.WebhookEndpointList.parse(later[0]!.json);
    R.WebhookEndpointOne.parse(later[1]!.json);
    expect(later[0]!.json.endpoints.map((listed: { id: string }) => listed.id)).toEqual([endpoint.id]);
    expect(Object.keys(later[1]!.json.endpoint).sort()).toEqual(ENDPOINT_FIELDS);
    // Stored sealed: not even the database row holds it in the clear.
    const [row] = await database.current.db
      .select({ secret: webhookEndpoints.secret })
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, endpoint.id));
    expect(row!.secret.length).toBeGreaterThan(0);
    expect(row!.secret).not.toContain(secretPart);
    expect(JSON.stringify(logged)).not.toContain(secretPart);
  });

  it('null or absent event types: every type; duplicates kept once', async () => {
    const all = await api(boss, '', { body: { url: receiver.url, event_types: null } });
    expect(all.status).toBe(201);
    expect(all.json.endpoint.event_types).toBeNull();
    const none = await api(boss, '', { body: { url: receiver.url } });
    expect(none.json.endpoint).toMatchObject({ event_types: null, description: null });
    const twice = await api(boss, '', {
      body: { url: receiver.url, event_types: ['mfa.enabled', 'mfa.enabled'] },
    });
    expect(twice.json.endpoint.event_types).toEqual(['mfa.enabled']);
    const every = await api(boss, '', { body: { url: receiver.url, event_types: [...WEBHOOK_EVENT_TYPES] } });
    expect(every.status).toBe(201);
  });

  it.each([
    ['no url', {}],
    ['a url that is a number', { url: 42 }],
    ['a url of 2001 characters', { url: `https://example.com/${'a'.repeat(1981)}` }],
    ['a url of 100,000 characters', { url: `https://example.com/${'a'.repeat(60_000)}` }],
    ['not a url', { url: 'hooks please' }],
    ['an ftp url', { url: 'ftp://example.com/hooks' }],
    ['a javascript: url', { url: 'javascript:alert(1)' }],
    ['credentials in the url', { url: 'https://user:pass@example.com/hooks' }],
    ['a fragment', { url: 'https://example.com/hooks#x' }],
    ['a newline in the url', { url: 'https://example.com/ho\noks' }],
    ['an unknown event type', { url: 'https://example.com/h', event_types: ['user.exploded'] }],
    ['event types as a string', { url: 'https://example.com/h', event_types: 'user.created' }],
    ['51 event types', { url: 'https://example.com/h', event_types: Array(51).fill('user.created') }],
    ['an event type of 101 characters', { url: 'https://example.com/h', event_types: ['u'.repeat(101)] }],
    ['a description of 201 characters', { url: 'https://example.com/h', description: 'd'.repeat(201) }],
    ['a NUL in the description', { url: 'https://example.com/h', description: 'a\u0000b' }],
  ])('refuses %s with 400 invalid_request, and registers nothing', async (_label, body) => {
    const res = await api(boss, '', { body });
    expectError(res, 400, 'invalid_request');
    expect(await lk.webhooks.listEndpoints()).toEqual([]);
  });

  it('names the reason: the policy’s for a URL, the catalogue for an event type', async () => {
    const credentials = await api(boss, '', { body: { url: 'https://user:pass@example.com/hooks' } });
    expect(credentials.json.error_description).toBe('url: URL must not contain a user name or password');
    expect(credentials.json.error_description).not.toContain('pass@');
    const unknown = await api(boss, '', { body: { url: receiver.url, event_types: ['user.exploded'] } });
    expect(unknown.json.error_description).toMatch(
      /^event_types: unknown user\.exploded; known: user\.created/,
    );
  });

  it('refuses malformed JSON (400), another content type (415) and no body (400)', async () => {
    expectError(
      await api(boss, '', { rawBody: '{"url":', headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_request',
    );
    expectError(
      await api(boss, '', { rawBody: `url=${receiver.url}`, headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    expectError(await api(boss, '', { method: 'POST' }), 400, 'invalid_request');
    expect(await lk.webhooks.listEndpoints()).toEqual([]);
  });
});

describe('SSRF: private targets outside development (WEBHOOK_ALLOW_PRIVATE unset)', () => {
  it.each([
    ['http://127.0.0.1:8080/hooks', 'address not allowed: 127.0.0.1'],
    ['http://2130706433/hooks', 'address not allowed: 127.0.0.1'],
    ['http://localhost:3000/hooks', 'host not allowed: localhost'],
    ['http://api.localhost/hooks', 'host not allowed: api.localhost'],
    ['http://[::1]:8080/hooks', 'address not allowed: ::1'],
    ['http://[::ffff:127.0.0.1]/hooks', 'address not allowed'],
    ['http://169.254.169.254/latest/meta-data/', 'address not allowed: 169.254.169.254'],
    ['http://10.0.0.5/hooks', 'address not allowed: 10.0.0.5'],
    ['http://192.168.1.1/hooks', 'address not allowed: 192.168.1.1'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'host not allowed'],
    ['http://intranet/hooks', 'single-label name'],
  ])('refuses %s with 400 and the reason', async (url, reason) => {
    const res = await api(strictBoss, '', { body: { url } }, strict.app);
    expectError(res, 400, 'invalid_request');
    expect(res.json.error_description).toContain(reason);
    expect(await strict.webhooks.listEndpoints()).toEqual([]);
  });

  it('refuses a PATCH to a private URL too, and leaves the endpoint as it was', async () => {
    const created = await api(strictBoss, '', { body: { url: 'https://hooks.example.org/in' } }, strict.app);
    expect(created.status).toBe(201);
    const id = created.json.endpoint.id;
    const res = await api(
      strictBoss,
      `/${id}`,
      { method: 'PATCH', body: { url: 'http://169.254.169.254/' } },
      strict.app,
    );
    expectError(res, 400, 'invalid_request');
    expect((await strict.webhooks.getEndpoint(id)).url).toBe('https://hooks.example.org/in');
  });

  it('a name that resolves to 127.0.0.1: registered (its shape is fine), refused at connect time; the receiver gets nothing, the log shows why', async () => {
    const port = new URL(receiver.url).port;
    const created = await api(
      strictBoss,
      '',
      { body: { url: `http://hooks.example.com:${port}/hooks` } },
      strict.app,
    );
    expect(created.status).toBe(201);
    const id = created.json.endpoint.id;
    const test = await api(strictBoss, `/${id}/test`, { method: 'POST' }, strict.app);
    expect(test.status).toBe(202);
    const before = receiver.received.length;
    lookedUp.length = 0;
    await strict.webhooks.dispatcher!.drain();
    expect(lookedUp).toContain('hooks.example.com');
    expect(receiver.received.length).toBe(before);

    const log = await api(strictBoss, `/${id}/deliveries`, {}, strict.app);
    expect(log.status).toBe(200);
    const [delivery] = log.json.deliveries;
    expect(delivery).toMatchObject({
      id: test.json.delivery_id,
      type: 'webhook.test',
      status: 'pending',
      attempts: 1,
      last_status: null,
    });
    expect(delivery.last_error).toContain('address not allowed: 127.0.0.1');
    // Retried until it fails for good: never once reaching the receiver.
    await deliverAll(id, strict);
    expect(receiver.received.length).toBe(before);
    const failed = await api(strictBoss, `/${id}/deliveries?status=failed`, {}, strict.app);
    expect(failed.json.deliveries).toHaveLength(1);
    expect(failed.json.deliveries[0].last_error).toContain('address not allowed');
  });

  it('production: https: only, even for a public address', async () => {
    const production = await buildLatchkey(database.current, {
      clock,
      env: {
        NODE_ENV: 'production',
        ISSUER: 'https://auth.example.com',
        SMTP_URL: 'smtp://mail.example.com:587',
      },
    });
    const token = await aal2Session(production.app);
    const plain = await api(token, '', { body: { url: 'http://hooks.example.org/in' } }, production.app);
    expectError(plain, 400, 'invalid_request');
    expect(plain.json.error_description).toBe('url: URL must be https:');
    const loopback = await api(token, '', { body: { url: 'https://127.0.0.1/in' } }, production.app);
    expectError(loopback, 400, 'invalid_request');
    const secure = await api(token, '', { body: { url: 'https://hooks.example.org/in' } }, production.app);
    expect(secure.status).toBe(201);
  });
});

describe('GET, PATCH and DELETE /v1/admin/webhooks/:id', () => {
  it('answers 404 not_found for an unknown id and a malformed one, on every route', async () => {
    for (const id of [crypto.randomUUID(), 'not-a-uuid', `${crypto.randomUUID()}x`, "1' OR '1'='1"]) {
      const path = `/${encodeURIComponent(id)}`;
      expectError(await api(boss, path), 404, 'not_found');
      expectError(await api(boss, path, { method: 'PATCH', body: { enabled: true } }), 404, 'not_found');
      expectError(await api(boss, path, { method: 'DELETE' }), 404, 'not_found');
      expectError(await api(boss, `${path}/rotate-secret`, { method: 'POST' }), 404, 'not_found');
      expectError(await api(boss, `${path}/test`, { method: 'POST' }), 404, 'not_found');
      expectError(await api(boss, `${path}/deliveries`), 404, 'not_found');
      expectError(await api(boss, `/deliveries${path}/replay`, { method: 'POST' }), 404, 'not_found');
    }
  });

  it('PATCH changes the URL, types and description, disables and enables again', async () => {
    const { endpoint } = await register({ event_types: ['user.created'] });
    clock.advance(1000);
    const changed = await api(boss, `/${endpoint.id}`, {
      method: 'PATCH',
      body: { url: `${receiver.url}?v=2`, event_types: ['password.reset', 'mfa.enabled'], description: 'v2' },
    });
    expect(changed.status).toBe(200);
    expect(changed.json.endpoint).toMatchObject({
      url: `${receiver.url}?v=2`,
      event_types: ['mfa.enabled', 'password.reset'],
      description: 'v2',
      enabled: true,
      updated_at: clock.now().toISOString(),
      created_at: endpoint.created_at,
    });
    const disabled = await api(boss, `/${endpoint.id}`, { method: 'PATCH', body: { enabled: false } });
    expect(disabled.json.endpoint).toMatchObject({
      enabled: false,
      disabled_at: clock.now().toISOString(),
      disabled_reason: 'disabled by an operator',
    });
    const cleared = await api(boss, `/${endpoint.id}`, {
      method: 'PATCH',
      body: { enabled: true, description: null, event_types: null },
    });
    expect(cleared.json.endpoint).toMatchObject({
      enabled: true,
      disabled_at: null,
      disabled_reason: null,
      description: null,
      event_types: null,
    });
  });

  it.each([
    ['an empty body', {}],
    ['only unknown fields', { colour: 'blue' }],
    ['enabled as a string', { enabled: 'yes' }],
    ['an unknown event type', { event_types: ['nope'] }],
    ['a url of 2001 characters', { url: `https://example.com/${'a'.repeat(1981)}` }],
    ['a description of 201 characters', { description: 'd'.repeat(201) }],
  ])('PATCH refuses %s with 400 and changes nothing', async (_label, body) => {
    const { endpoint } = await register();
    const res = await api(boss, `/${endpoint.id}`, { method: 'PATCH', body });
    expectError(res, 400, 'invalid_request');
    expect((await api(boss, `/${endpoint.id}`)).json.endpoint).toEqual(endpoint);
  });

  it('DELETE removes the endpoint and its deliveries (204), then 404', async () => {
    const { endpoint } = await register();
    expect((await api(boss, `/${endpoint.id}/test`, { method: 'POST' })).status).toBe(202);
    expect(await deliveryRows(endpoint.id)).toHaveLength(1);
    const res = await api(boss, `/${endpoint.id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.json).toBeUndefined();
    expect(await deliveryRows(endpoint.id)).toHaveLength(0);
    expectError(await api(boss, `/${endpoint.id}`), 404, 'not_found');
    expectError(await api(boss, `/${endpoint.id}`, { method: 'DELETE' }), 404, 'not_found');
  });
});

describe('a test event, the delivery log and a replay, with a real receiver', () => {
  it('"send a test event" arrives signed (standardwebhooks verifies it) and the log shows it sent', async () => {
    const { endpoint } = await register({ event_types: ['password.reset'] });
    const res = await api(boss, `/${endpoint.id}/test`, { method: 'POST' });
    expect(res.status).toBe(202);
    R.WebhookTestQueued.parse(res.json);
    const before = receiver.received.length;
    await lk.webhooks.dispatcher!.drain();
    const got = receiver.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.verified).toBe(true);
    expect(got[0]!.payload).toEqual({
      type: 'webhook.test',
      timestamp: clock.now().toISOString(),
      data: { endpoint_id: endpoint.id },
    });

    const log = await api(boss, `/${endpoint.id}/deliveries`);
    expect(log.status).toBe(200);
    R.WebhookDeliveryList.parse(log.json);
    expect(log.json.next_cursor).toBeNull();
    expect(log.json.deliveries).toHaveLength(1);
    const [delivery] = log.json.deliveries;
    expect(Object.keys(delivery).sort()).toEqual(DELIVERY_FIELDS);
    expect(delivery).toMatchObject({
      id: res.json.delivery_id,
      webhook_id: got[0]!.id,
      type: 'webhook.test',
      status: 'sent',
      attempts: 1,
      last_status: 200,
      last_error: null,
      sent_at: clock.now().toISOString(),
    });
    expect((await api(boss, `/${endpoint.id}`)).json.endpoint.last_success_at).toBe(
      clock.now().toISOString(),
    );
  });

  it('a failing delivery fails for good; replayed, it arrives verified under the same webhook-id; only a failed one replays', async () => {
    const { endpoint } = await register({ event_types: ['password.reset'] });
    receiver.answerWith(() => 500);
    const queued = await api(boss, `/${endpoint.id}/test`, { method: 'POST' });
    const deliveryId: string = queued.json.delivery_id;
    // Pending: not replayable.
    expectError(
      await api(boss, `/deliveries/${deliveryId}/replay`, { method: 'POST' }),
      409,
      'delivery_not_replayable',
    );
    const before = receiver.received.length;
    await deliverAll(endpoint.id);
    const attempts = receiver.received.slice(before);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.every((got) => got.verified)).toBe(true);
    const webhookId = attempts[0]!.id;
    expect(attempts.every((got) => got.id === webhookId)).toBe(true);

    const failed = await api(boss, `/${endpoint.id}/deliveries?status=failed`);
    expect(failed.json.deliveries).toHaveLength(1);
    expect(failed.json.deliveries[0]).toMatchObject({
      id: deliveryId,
      webhook_id: webhookId,
      status: 'failed',
      last_status: 500,
      last_error: 'answered 500',
      sent_at: null,
    });

    receiver.answerWith(() => 200);
    clock.advance(60_000);
    const replayed = await api(boss, `/deliveries/${deliveryId.toUpperCase()}/replay`, { method: 'POST' });
    expect(replayed.status).toBe(202);
    expect(replayed.json).toEqual({ replayed: true });
    const pending = await api(boss, `/${endpoint.id}/deliveries?status=pending`);
    expect(pending.json.deliveries[0]).toMatchObject({
      id: deliveryId,
      attempts: 0,
      next_attempt_at: clock.now().toISOString(),
    });
    const mark = receiver.received.length;
    await lk.webhooks.dispatcher!.drain();
    const again = receiver.received.slice(mark);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ id: webhookId, verified: true });
    expect(again[0]!.payload.type).toBe('webhook.test');
    const sent = await api(boss, `/${endpoint.id}/deliveries`);
    expect(sent.json.deliveries[0]).toMatchObject({
      id: deliveryId,
      status: 'sent',
      last_status: 200,
      attempts: 1,
    });
    // Sent: not replayable either.
    expectError(
      await api(boss, `/deliveries/${deliveryId}/replay`, { method: 'POST' }),
      409,
      'delivery_not_replayable',
    );
  });

  it('two replays at once: one 202, the other 409; a mail message’s id is no delivery (404)', async () => {
    const { endpoint } = await register({ event_types: ['password.reset'] });
    const queued = await api(boss, `/${endpoint.id}/test`, { method: 'POST' });
    await database.current.db
      .update(outbox)
      .set({ status: 'failed', lastError: 'answered 500', lastStatus: 500 })
      .where(eq(outbox.id, queued.json.delivery_id));
    const answers = await Promise.all([
      api(boss, `/deliveries/${queued.json.delivery_id}/replay`, { method: 'POST' }),
      api(boss, `/deliveries/${queued.json.delivery_id}/replay`, { method: 'POST' }),
    ]);
    expect(answers.map((res) => res.status).sort()).toEqual([202, 409]);

    const user = await registerUser(lk.app);
    await call(lk.app, '/v1/auth/password/forgot', { body: { email: user.email } });
    const [mail] = await database.current.db.select().from(outbox).where(eq(outbox.userId, user.id));
    expect(mail).toBeDefined();
    await database.current.db.update(outbox).set({ status: 'failed' }).where(eq(outbox.id, mail!.id));
    expectError(await api(boss, `/deliveries/${mail!.id}/replay`, { method: 'POST' }), 404, 'not_found');
  });

  it('the log pages newest first through every delivery once, by status; bad queries are 400', async () => {
    const { endpoint } = await register({ event_types: ['password.reset'] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      ids.push((await api(boss, `/${endpoint.id}/test`, { method: 'POST' })).json.delivery_id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res = await api(
        boss,
        `/${endpoint.id}/deliveries?status=pending&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.json.deliveries.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.deliveries.map((delivery: { id: string }) => delivery.id));
      cursor = res.json.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());
    expect((await api(boss, `/${endpoint.id}/deliveries?status=sent`)).json.deliveries).toEqual([]);

    for (const query of [
      'status=bounced',
      'status=',
      'limit=0',
      'limit=101',
      'limit=ten',
      'cursor=%21%21',
      `cursor=${Buffer.from('not a cursor').toString('base64url')}`,
      `cursor=${Buffer.from(`2030-01-01T00:00:00.000Z|${'x'.repeat(36)}`).toString('base64url')}`,
      `cursor=${'A'.repeat(129)}`,
    ]) {
      expectError(await api(boss, `/${endpoint.id}/deliveries?${query}`), 400, 'invalid_request');
    }
  });
});

describe('POST /v1/admin/webhooks/:id/rotate-secret', () => {
  it('shows the new secret once; both secrets sign until the overlap ends, then only the new one', async () => {
    const { endpoint, secret: old } = await register({ event_types: ['password.reset'] });
    const res = await api(boss, `/${endpoint.id}/rotate-secret`, { method: 'POST' });
    expect(res.status).toBe(200);
    R.WebhookEndpointWithSecret.parse(res.json);
    const fresh: string = res.json.secret;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(old);
    // WEBHOOK_SECRET_OVERLAP: a day by default.
    expect(res.json.endpoint.previous_secret_expires_at).toBe(
      new Date(clock.now().getTime() + 24 * HOUR).toISOString(),
    );
    expect(JSON.stringify((await api(boss, `/${endpoint.id}`)).json)).not.toContain(fresh.slice(6));

    // A receiver still on the old secret verifies, and so does one on the new.
    for (const secret of [old, fresh]) {
      receiverSecret = secret;
      const mark = receiver.received.length;
      await api(boss, `/${endpoint.id}/test`, { method: 'POST' });
      await lk.webhooks.dispatcher!.drain();
      expect(receiver.received.slice(mark).map((got) => got.verified)).toEqual([true]);
    }
    // After the overlap: the old secret no longer signs.
    clock.advance(24 * HOUR + 1000);
    receiverSecret = old;
    const mark = receiver.received.length;
    await api(boss, `/${endpoint.id}/test`, { method: 'POST' });
    await lk.webhooks.dispatcher!.drain();
    expect(receiver.received.slice(mark).map((got) => got.verified)).toEqual([false]);
    expect(JSON.stringify(logged)).not.toContain(fresh.slice(6));
  });
});

describe('the audit record', () => {
  it('each write is an `admin action` log line naming the admin, never the URL or a secret', async () => {
    logged.length = 0;
    const { endpoint, secret } = await register({ url: `${receiver.url}?token=receiver-own-token` });
    await api(boss, `/${endpoint.id}`, { method: 'PATCH', body: { enabled: false } });
    await api(boss, `/${endpoint.id}/rotate-secret`, { method: 'POST' });
    const test = await api(boss, `/${endpoint.id}/test`, { method: 'POST' });
    await database.current.db
      .update(outbox)
      .set({ status: 'failed' })
      .where(eq(outbox.id, test.json.delivery_id));
    await api(boss, `/deliveries/${test.json.delivery_id}/replay`, { method: 'POST' });
    await api(boss, `/${endpoint.id}`, { method: 'DELETE' });
    // Reads are not audited.
    await api(boss, '');
    const actions = logged.filter((line) => line.message === 'admin action').map((line) => line.fields);
    expect(actions.map((fields) => fields.action)).toEqual([
      'webhook_created',
      'webhook_updated',
      'webhook_secret_rotated',
      'webhook_test_sent',
      'webhook_delivery_replayed',
      'webhook_deleted',
    ]);
    for (const fields of actions) {
      expect(fields.admin_id).toMatch(UUID);
      expect(fields.admin_session_id).toMatch(UUID);
    }
    expect(actions[1]).toMatchObject({
      webhook_endpoint_id: endpoint.id,
      changed: ['enabled'],
      enabled: false,
    });
    expect(actions[4]).toMatchObject({ delivery_id: test.json.delivery_id });
    const everything = JSON.stringify(logged);
    expect(everything).not.toContain('receiver-own-token');
    expect(everything).not.toContain(secret.slice(6));
  });
});

describe('OpenAPI', () => {
  it('states every webhook route with the admin guard', async () => {
    const doc = (await call(lk.app, '/openapi.json')).json;
    const paths = doc.paths as Record<string, Record<string, { security?: unknown; responses: object }>>;
    expect(Object.keys(paths['/v1/admin/webhooks']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/v1/admin/webhooks/{id}']!).sort()).toEqual(['delete', 'get', 'patch']);
    for (const path of ['/{id}/rotate-secret', '/{id}/test', '/deliveries/{id}/replay'])
      expect(Object.keys(paths[`/v1/admin/webhooks${path}`]!)).toEqual(['post']);
    expect(Object.keys(paths['/v1/admin/webhooks/{id}/deliveries']!)).toEqual(['get']);
    expect(paths['/v1/admin/webhooks']!.post!.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(paths['/v1/admin/webhooks/deliveries/{id}/replay']!.post!.responses)).toContain('409');
  });
});
