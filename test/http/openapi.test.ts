import { readdir, readFile } from 'node:fs/promises';
import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiRoutes } from '../../src/http/app.js';
import type { RouteContext } from '../../src/http/context.js';
import { jsonSchema, openApiDocument, openApiPath } from '../../src/http/openapi.js';
import type { Operation } from '../../src/http/route-table.js';
import * as EmailSchemas from '../../src/http/routes/email.js';
import * as PasswordResetSchemas from '../../src/http/routes/password-reset.js';
import * as S from '../../src/http/schemas.js';
import { noMetrics } from '../../src/ports/metrics.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';

/**
 * /openapi.json is valid OpenAPI 3.1, is generated from the route declarations, covers every
 * route the app serves and every route of the contract, and the response schemas it publishes
 * match what the routes really send.
 */
const database = useDatabase();
let lk: Latchkey;
// biome-ignore lint/suspicious/noExplicitAny: the document is checked by the validator
let doc: any;
/** The declarations of the route modules createApp mounts (their handlers are never called here). */
let operations: readonly Operation[];

beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    env: { INTROSPECTION_CLIENTS: `rs1:${'s'.repeat(40)}`, METRICS_TOKEN: 'm'.repeat(40) },
  });
  doc = (await call(lk.app, '/openapi.json')).json;
  // Declaring needs the config and clock only; the services are looked up when a request comes.
  const ctx = { config: lk.config, clock: lk.clock } as unknown as RouteContext;
  const health = {
    isAvailable: async () => true,
    sessionStats: async () => ({}) as never,
    outboxStats: async () => ({}) as never,
    webhookStats: async () => ({}) as never,
  };
  operations = apiRoutes(ctx, { health, metrics: noMetrics, metricsToken: undefined }).flatMap(
    (routes) => routes.operations,
  );
});

/** docs/API.md, Endpoints. */
const CONTRACT = [
  'POST /v1/auth/register',
  'POST /v1/auth/login',
  'POST /v1/auth/login/mfa',
  'POST /v1/auth/refresh',
  'POST /v1/auth/logout',
  'POST /v1/auth/step-up',
  'POST /v1/auth/password/forgot',
  'POST /v1/auth/password/reset',
  'GET /v1/users/me',
  'PATCH /v1/users/me',
  'DELETE /v1/users/me',
  'POST /v1/users/me/password',
  'GET /v1/sessions',
  'DELETE /v1/sessions/{id}',
  'POST /v1/sessions/revoke-all',
  'POST /v1/mfa/totp/enroll',
  'POST /v1/mfa/totp/activate',
  'DELETE /v1/mfa/totp',
  'POST /v1/mfa/recovery-codes',
  'GET /.well-known/jwks.json',
  'GET /.well-known/oauth-authorization-server',
  'POST /oauth/token',
  'POST /oauth/revoke',
  'POST /oauth/introspect',
  'GET /health',
];

const documented = () =>
  Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );

describe('/openapi.json', () => {
  it('is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('covers every route of the contract', () => {
    expect(documented()).toEqual(expect.arrayContaining(CONTRACT));
  });

  it('covers every route the app serves (but its own /openapi.json and /docs, and the HTML pages under /account)', () => {
    const served = lk.app.routes
      .filter((route) => route.method !== 'ALL')
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, '{$1}')}`)
      .filter((route) => !/^GET \/(openapi\.json|docs)/.test(route) && !/^\w+ \/account(\/|$)/.test(route));
    expect([...new Set(documented())].sort()).toEqual([...new Set(served)].sort());
  });

  it('states security, request bodies and errors', () => {
    const me = doc.paths['/v1/users/me'].get;
    expect(me.security).toEqual([{ bearerAuth: [] }]);
    expect(me.responses['401'].description).toContain('invalid_token');
    const login = doc.paths['/v1/auth/login'].post;
    expect(login.security).toEqual([]);
    expect(login.requestBody.content['application/json'].schema.required).toEqual(['email', 'password']);
    expect(login.responses['429'].description).toContain('rate_limited');
    const token = doc.paths['/oauth/token'].post;
    expect(Object.keys(token.requestBody.content)).toContain('application/x-www-form-urlencoded');
    expect(doc.paths['/v1/mfa/totp'].delete.description).toContain('aal2');
  });

  it('is generated from the route declarations, and nothing else', () => {
    const generated = openApiDocument({ issuer: lk.config.issuer, version: doc.info.version, operations });
    expect(doc).toEqual(JSON.parse(JSON.stringify(generated)));
  });
});

/** Every JSON Schema object in the document, with where it is. */
function schemasIn(node: unknown, where = '#', found: [string, Record<string, unknown>][] = []) {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) schemasIn(item, `${where}/${i}`, found);
  } else if (node && typeof node === 'object') {
    const object = node as Record<string, unknown>;
    if (typeof object.type === 'string' || Array.isArray(object.type)) found.push([where, object]);
    for (const [key, value] of Object.entries(object)) schemasIn(value, `${where}/${key}`, found);
  }
  return found;
}

const FORMATS: Record<string, z.ZodType> = {
  uuid: z.uuid(),
  'date-time': z.iso.datetime(),
  email: z.email(),
};

describe('/openapi.json: what a renderer shows as example values', () => {
  it("states no safe-integer bound (zod's ±9007199254740991, which renderers print as the example)", () => {
    expect(JSON.stringify(doc)).not.toContain('9007199254740991');
    const integers = schemasIn(doc).filter(([, schema]) => [schema.type].flat().includes('integer'));
    expect(integers.length).toBeGreaterThan(10);
    for (const [where, schema] of integers)
      for (const key of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'])
        if (key in schema) expect(Math.abs(schema[key] as number), where).toBeLessThan(2 ** 32);
    // The integers stay integers, and real bounds stay.
    const refresh = doc.paths['/v1/auth/refresh'].post.responses['200'].content['application/json'].schema;
    expect(refresh.properties.expires_in).toEqual({ type: 'integer' });
    const days = doc.paths['/v1/admin/analytics'].get.parameters.find(
      (parameter: { name: string }) => parameter.name === 'days',
    );
    expect(days.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 90 });
  });

  it('the route keeps its bound: the zod schema still refuses an integer beyond the safe range', () => {
    const refresh = operations.find((op) => op.method === 'post' && op.path === '/v1/auth/refresh')!;
    const expiresIn = (refresh.ok.schema as z.ZodObject).shape.expires_in as z.ZodType;
    expect(expiresIn.safeParse(900).success).toBe(true);
    expect(expiresIn.safeParse(2 ** 53 + 2).success).toBe(false);
  });

  it("a UUID or date-time has an example, valid against the schema's own pattern", () => {
    const formatted = schemasIn(doc).filter(([, schema]) =>
      ['uuid', 'date-time'].includes(schema.format as string),
    );
    expect(new Set(formatted.map(([, schema]) => schema.format))).toEqual(new Set(['uuid', 'date-time']));
    for (const [where, schema] of formatted) {
      expect(schema.examples, where).toHaveLength(1);
      const example = (schema.examples as string[])[0]!;
      if (typeof schema.pattern === 'string') expect(example, where).toMatch(new RegExp(schema.pattern, 'u'));
      expect(FORMATS[schema.format as string]!.safeParse(example).success, where).toBe(true);
    }
  });
});

describe('a route validates its body and query with the schema it documents', () => {
  const find = (method: string, path: string) =>
    operations.find((op) => op.method === method && op.path === path);

  it('one object: the zod schema the route reads with is the one the document is made of', () => {
    const login = find('post', '/v1/auth/login');
    expect(login?.body?.schema).toBe(S.LoginBody);
    expect(doc.paths['/v1/auth/login'].post.requestBody.content['application/json'].schema).toEqual(
      jsonSchema(S.LoginBody),
    );
    expect(find('post', '/oauth/token')?.body?.schema).toBe(S.TokenParams);
    expect(find('get', '/v1/admin/analytics')?.query?.schema).toBe(S.AnalyticsQuery);
    // The request schemas: src/http/schemas.ts, and those a route module exports beside its routes.
    const schemas: unknown[] = [
      ...Object.values(S),
      ...Object.values(PasswordResetSchemas),
      ...Object.values(EmailSchemas),
    ];
    for (const op of operations) {
      const documented = doc.paths[openApiPath(op.path)][op.method];
      if (op.body) {
        expect(schemas, `${op.method} ${op.path}`).toContain(op.body.schema);
        for (const content of Object.values(documented.requestBody.content))
          expect((content as { schema: unknown }).schema).toEqual(jsonSchema(op.body.schema));
        expect(documented.requestBody.required).toBe(!op.body.optional);
      } else {
        expect(documented.requestBody, `${op.method} ${op.path}`).toBeUndefined();
      }
      if (op.query) expect(schemas, `${op.method} ${op.path}`).toContain(op.query.schema);
    }
  });

  it('the declared schema is what refuses a body: a bound the document states is the bound enforced', async () => {
    const login = jsonSchema(S.LoginBody) as unknown as { properties: { email: { maxLength: number } } };
    const email = 'x'.repeat(login.properties.email.maxLength + 1);
    const res = await call(lk.app, '/v1/auth/login', { body: { email, password: 'p' } });
    expect(res.status).toBe(400);
    expect(res.json.error_description).toContain('email');
  });

  it('no route module reads a body or a query itself: the declaration does (src/http/route-table.ts)', async () => {
    const dir = new URL('../../src/http/routes/', import.meta.url);
    for (const file of await readdir(dir)) {
      const source = await readFile(new URL(file, dir), 'utf8');
      expect(source, file).not.toMatch(
        /\b(readJson|readParams)\(|c\.req\.(json|text|parseBody|query|queries)\(/,
      );
    }
  });
});

describe('the published response schemas match the responses', () => {
  const declared = (method: string, path: string) =>
    operations.find((item) => item.method === method && openApiPath(item.path) === path);
  const schemaOf = (method: string, path: string) => {
    const op = declared(method, path);
    if (!op?.ok.schema) throw new Error(`no response schema for ${method} ${path}`);
    return op.ok.alternatives ? [op.ok.schema, ...op.ok.alternatives] : [op.ok.schema];
  };
  const expectMatches = (method: string, path: string, res: { status: number; json: unknown }) => {
    const op = declared(method, path)!;
    expect(res.status, JSON.stringify(res.json)).toBe(op.ok.status);
    const results = schemaOf(method, path).map((schema) => schema.safeParse(res.json));
    expect(
      results.some((result) => result.success),
      JSON.stringify(results.map((r) => r.error?.issues)),
    ).toBe(true);
  };

  it('for a whole flow: register, login, MFA, sessions, events, OAuth, health', async () => {
    const email = `openapi-${Date.now()}@example.com`;
    const registered = await call(lk.app, '/v1/auth/register', {
      body: { email, password: 'correct horse battery staple' },
    });
    expectMatches('post', '/v1/auth/register', registered);
    const pair = await login(lk.app, email);
    expectMatches('post', '/v1/auth/login', { status: 200, json: pair });
    const token = pair.access_token;
    expectMatches('get', '/v1/users/me', await call(lk.app, '/v1/users/me', { token }));
    expectMatches('get', '/v1/sessions', await call(lk.app, '/v1/sessions', { token }));
    expectMatches('get', '/v1/users/me/events', await call(lk.app, '/v1/users/me/events', { token }));
    const refreshed = await refresh(lk.app, pair.refresh_token);
    expectMatches('post', '/v1/auth/refresh', refreshed);

    const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token });
    expectMatches('post', '/v1/mfa/totp/enroll', enrolled);
    const code = totpCode(enrolled.json.secret, Math.floor(lk.clock.now().getTime() / 1000));
    const activated = await call(lk.app, '/v1/mfa/totp/activate', { body: { code }, token });
    expectMatches('post', '/v1/mfa/totp/activate', activated);
    const mfa = await call(lk.app, '/v1/auth/login', {
      body: { email, password: 'correct horse battery staple' },
    });
    expectMatches('post', '/v1/auth/login', mfa);
    expect(mfa.json.mfa_required).toBe(true);

    expectMatches(
      'post',
      '/v1/sessions/revoke-all',
      await call(lk.app, '/v1/sessions/revoke-all', { body: {}, token: refreshed.json.access_token }),
    );
    expectMatches('get', '/.well-known/jwks.json', await call(lk.app, '/.well-known/jwks.json'));
    expectMatches(
      'get',
      '/.well-known/oauth-authorization-server',
      await call(lk.app, '/.well-known/oauth-authorization-server'),
    );
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const other = await registerUser(lk.app);
    const otherPair = await login(lk.app, other.email);
    const oauthToken = await call(lk.app, '/oauth/token', {
      rawBody: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: otherPair.refresh_token,
      }).toString(),
      headers: form,
    });
    expectMatches('post', '/oauth/token', oauthToken);
    const introspected = await call(lk.app, '/oauth/introspect', {
      rawBody: new URLSearchParams({
        token: oauthToken.json.access_token,
        client_id: 'rs1',
        client_secret: 's'.repeat(40),
      }).toString(),
      headers: form,
    });
    expectMatches('post', '/oauth/introspect', introspected);
    expectMatches('get', '/oauth/revoked-sessions', await call(lk.app, '/oauth/revoked-sessions'));
    expectMatches('get', '/health', await call(lk.app, '/health'));
  });
});
