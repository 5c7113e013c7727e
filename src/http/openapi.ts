import { z } from 'zod';
import type { AuthErrorCode } from '../domain/errors.js';
import { STATUS } from './errors.js';
import * as R from './responses.js';
import * as S from './schemas.js';

/**
 * The OpenAPI 3.1 document, built from the zod schemas that validate the requests
 * (src/http/schemas.ts) and the response schemas the tests hold the routes to
 * (src/http/responses.ts), with zod's own JSON Schema output (OpenAPI 3.1 uses JSON Schema
 * 2020-12 as it is). `test/http/openapi.test.ts` fails when a route of the app is missing here.
 */

type Method = 'get' | 'post' | 'delete';
type Security =
  | 'bearer'
  | 'bearerAal2'
  | 'bearerFresh'
  | 'bearerFreshAal2'
  | 'introspectionClient'
  | 'metrics'
  | 'admin';

interface Operation {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  description?: string;
  security?: Security;
  body?: { schema: z.ZodType; form?: boolean; optional?: boolean };
  query?: z.ZodType;
  ok: {
    status: number;
    description: string;
    schema?: z.ZodType;
    contentType?: string;
    alternatives?: z.ZodType[];
  };
  errors?: AuthErrorCode[];
}

const BAD_INPUT: AuthErrorCode[] = ['invalid_request', 'unsupported_media_type', 'payload_too_large'];
const BEARER_ERRORS: AuthErrorCode[] = ['invalid_token', 'temporarily_unavailable'];
const ADMIN_ERRORS: AuthErrorCode[] = [...BEARER_ERRORS, 'insufficient_user_authentication', 'forbidden'];

/** Every route the app serves, but the documentation's own (/openapi.json, /docs). */
export const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/v1/auth/register',
    tag: 'auth',
    summary: 'Create an account',
    body: { schema: S.RegisterBody },
    ok: { status: 201, description: 'Created', schema: R.RegisteredUser },
    errors: [...BAD_INPUT, 'invalid_password', 'email_taken', 'rate_limited'],
  },
  {
    method: 'post',
    path: '/v1/auth/login',
    tag: 'auth',
    summary: 'Log in with email and password',
    description:
      'A token pair, or `mfa_required` with an `mfa_token` when the user has MFA. Same body and timing for an unknown email and a wrong password.',
    body: { schema: S.LoginBody },
    ok: {
      status: 200,
      description: 'Token pair, or MFA required',
      schema: R.TokenPair,
      alternatives: [R.MfaRequired],
    },
    errors: [...BAD_INPUT, 'invalid_credentials', 'rate_limited', 'session_limit_reached'],
  },
  {
    method: 'post',
    path: '/v1/auth/login/session-limit',
    tag: 'auth',
    summary: 'Sign one device out and finish a login held at the session limit',
    description:
      'With SESSION_LIMIT_POLICY=reject, a login past the limit answers 409 `session_limit_reached` with `sessions` and a `limit_token` (5 minutes, once).',
    body: { schema: S.SessionLimitBody },
    ok: { status: 200, description: 'Token pair', schema: R.TokenPair },
    errors: [...BAD_INPUT, 'invalid_limit_token', 'not_found', 'session_limit_reached'],
  },
  {
    method: 'post',
    path: '/v1/auth/login/mfa',
    tag: 'auth',
    summary: 'Finish an MFA login with a TOTP code or a recovery code',
    body: { schema: S.MfaLoginBody },
    ok: { status: 200, description: 'Token pair with acr aal2', schema: R.TokenPair },
    errors: [...BAD_INPUT, 'invalid_code', 'invalid_mfa_token', 'rate_limited'],
  },
  {
    method: 'post',
    path: '/v1/auth/refresh',
    tag: 'auth',
    summary: 'Rotate a refresh token',
    description:
      'From the body or the refresh cookie. A token replayed after the 10 s grace window revokes its session (`refresh_token_reused`).',
    body: { schema: S.RefreshBody, optional: true },
    ok: { status: 200, description: 'New token pair', schema: R.TokenPair },
    errors: [...BAD_INPUT, 'invalid_grant', 'refresh_token_reused', 'invalid_origin', 'rate_limited'],
  },
  {
    method: 'post',
    path: '/v1/auth/logout',
    tag: 'auth',
    summary: 'End a session (refresh token, Bearer token or cookie)',
    body: { schema: S.LogoutBody, optional: true },
    ok: { status: 204, description: 'The session is revoked' },
    errors: [...BAD_INPUT, 'invalid_token', 'invalid_origin'],
  },
  {
    method: 'post',
    path: '/v1/auth/step-up',
    tag: 'auth',
    summary: 'Re-authenticate (TOTP code: aal2; password: aal1) for a fresh auth_time',
    security: 'bearer',
    body: { schema: S.StepUpBody },
    ok: { status: 200, description: 'Token pair', schema: R.TokenPair },
    errors: [
      ...BAD_INPUT,
      ...BEARER_ERRORS,
      'wrong_code',
      'wrong_password',
      'mfa_not_enabled',
      'rate_limited',
    ],
  },
  {
    method: 'get',
    path: '/v1/users/me',
    tag: 'account',
    summary: 'The signed-in user',
    security: 'bearer',
    ok: { status: 200, description: 'The user', schema: R.Me },
    errors: BEARER_ERRORS,
  },
  {
    method: 'post',
    path: '/v1/users/me/password',
    tag: 'account',
    summary: 'Change the password; every other session is revoked',
    security: 'bearer',
    body: { schema: S.ChangePasswordBody },
    ok: { status: 204, description: 'Changed' },
    errors: [...BAD_INPUT, ...BEARER_ERRORS, 'wrong_password', 'invalid_password', 'rate_limited'],
  },
  {
    method: 'get',
    path: '/v1/users/me/events',
    tag: 'account',
    summary: 'Security activity of the account, newest first (keyset paging)',
    security: 'bearer',
    query: S.EventsQuery,
    ok: { status: 200, description: 'A page of events', schema: R.SecurityEvents },
    errors: ['invalid_request', ...BEARER_ERRORS],
  },
  {
    method: 'get',
    path: '/v1/sessions',
    tag: 'sessions',
    summary: 'Live sessions (devices), newest activity first',
    security: 'bearer',
    ok: { status: 200, description: 'Sessions', schema: R.SessionList },
    errors: BEARER_ERRORS,
  },
  {
    method: 'post',
    path: '/v1/sessions/revoke-all',
    tag: 'sessions',
    summary: "Revoke every session but the caller's (or all with include_current)",
    security: 'bearer',
    body: { schema: S.RevokeAllBody, optional: true },
    ok: { status: 200, description: 'How many were revoked', schema: R.RevokedCount },
    errors: [...BAD_INPUT, ...BEARER_ERRORS],
  },
  {
    method: 'delete',
    path: '/v1/sessions/{id}',
    tag: 'sessions',
    summary: 'Revoke one of your sessions',
    security: 'bearer',
    ok: { status: 204, description: 'Revoked' },
    errors: [...BEARER_ERRORS, 'not_found'],
  },
  {
    method: 'post',
    path: '/v1/mfa/totp/enroll',
    tag: 'mfa',
    summary: 'Start TOTP enrolment: secret, otpauth URI and QR code (SVG)',
    security: 'bearerFresh',
    ok: { status: 200, description: 'A pending factor', schema: R.TotpEnrollment },
    errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'mfa_already_enabled'],
  },
  {
    method: 'post',
    path: '/v1/mfa/totp/activate',
    tag: 'mfa',
    summary: 'Activate TOTP with a first code; returns 10 recovery codes, shown once',
    security: 'bearer',
    body: { schema: S.ActivateTotpBody },
    ok: { status: 200, description: 'Recovery codes', schema: R.RecoveryCodes },
    errors: [
      ...BAD_INPUT,
      ...BEARER_ERRORS,
      'wrong_code',
      'mfa_already_enabled',
      'mfa_not_enabled',
      'rate_limited',
    ],
  },
  {
    method: 'delete',
    path: '/v1/mfa/totp',
    tag: 'mfa',
    summary: 'Turn TOTP off; every other session is revoked',
    security: 'bearerFreshAal2',
    ok: { status: 204, description: 'Disabled' },
    errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'mfa_not_enabled'],
  },
  {
    method: 'post',
    path: '/v1/mfa/recovery-codes',
    tag: 'mfa',
    summary: 'Replace the recovery codes',
    security: 'bearerFreshAal2',
    ok: {
      status: 200,
      description: 'New recovery codes; the old ones stop working',
      schema: R.RecoveryCodes,
    },
    errors: [...BEARER_ERRORS, 'insufficient_user_authentication', 'mfa_not_enabled'],
  },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    tag: 'keys',
    summary: 'Public keys in use (active, scheduled and still-valid previous ones)',
    ok: { status: 200, description: 'JWKS (RFC 7517)', schema: R.Jwks },
  },
  {
    method: 'get',
    path: '/.well-known/oauth-authorization-server',
    tag: 'oauth',
    summary: 'RFC 8414 authorization server metadata',
    ok: { status: 200, description: 'Metadata', schema: R.AuthorizationServerMetadata },
  },
  {
    method: 'post',
    path: '/oauth/token',
    tag: 'oauth',
    summary: 'RFC 6749 refresh grant for public clients',
    body: { schema: S.TokenParams, form: true },
    ok: { status: 200, description: 'RFC 6749 §5.1', schema: R.OAuthTokenResponse },
    errors: ['invalid_request', 'invalid_grant', 'unsupported_grant_type', 'invalid_client', 'rate_limited'],
  },
  {
    method: 'post',
    path: '/oauth/revoke',
    tag: 'oauth',
    summary: 'RFC 7009 revocation: ends the token’s session',
    body: { schema: S.RevokeParams, form: true },
    ok: { status: 200, description: 'Revoked, or nothing to revoke' },
    errors: ['invalid_request', 'invalid_client', 'unauthorized_client'],
  },
  {
    method: 'post',
    path: '/oauth/introspect',
    tag: 'oauth',
    summary: 'RFC 7662 introspection, for resource servers in INTROSPECTION_CLIENTS',
    security: 'introspectionClient',
    body: { schema: S.IntrospectParams, form: true },
    ok: { status: 200, description: 'RFC 7662 §2.2', schema: R.Introspection },
    errors: ['invalid_request', 'invalid_client'],
  },
  {
    method: 'get',
    path: '/oauth/revoked-sessions',
    tag: 'oauth',
    summary: 'Sessions revoked within the last access-token lifetime, for offline verifiers (ETag, 304)',
    ok: { status: 200, description: 'The feed', schema: R.RevokedSessionsFeed },
  },
  {
    method: 'get',
    path: '/v1/admin/users',
    tag: 'admin',
    summary: 'Search users by email prefix or id, in email order',
    security: 'admin',
    query: S.AdminUsersQuery,
    ok: { status: 200, description: 'A page of users', schema: R.AdminUserList },
    errors: ['invalid_request', ...ADMIN_ERRORS],
  },
  {
    method: 'get',
    path: '/v1/admin/users/{id}',
    tag: 'admin',
    summary: 'One user',
    security: 'admin',
    ok: { status: 200, description: 'The user', schema: R.AdminUserOne },
    errors: [...ADMIN_ERRORS, 'not_found'],
  },
  {
    method: 'get',
    path: '/v1/admin/users/{id}/sessions',
    tag: 'admin',
    summary: "A user's live sessions",
    security: 'admin',
    ok: { status: 200, description: 'Sessions', schema: R.SessionList },
    errors: [...ADMIN_ERRORS, 'not_found'],
  },
  {
    method: 'post',
    path: '/v1/admin/users/{id}/sessions/revoke-all',
    tag: 'admin',
    summary: 'Revoke every session of a user (event admin_sessions_revoked)',
    security: 'admin',
    ok: { status: 200, description: 'How many were revoked', schema: R.RevokedCount },
    errors: [...ADMIN_ERRORS, 'not_found'],
  },
  {
    method: 'delete',
    path: '/v1/admin/users/{id}/sessions/{session_id}',
    tag: 'admin',
    summary: "Revoke one of a user's sessions (event admin_session_revoked)",
    security: 'admin',
    ok: { status: 204, description: 'Revoked' },
    errors: [...ADMIN_ERRORS, 'not_found'],
  },
  {
    method: 'post',
    path: '/v1/admin/users/{id}/disable',
    tag: 'admin',
    summary: 'Disable a user: no more logins, and every session revoked at once (event admin_user_disabled)',
    description:
      'Idempotent: disabling a disabled user changes nothing (`revoked: 0`, no event). Not your own account.',
    security: 'admin',
    ok: {
      status: 200,
      description: 'The user, and how many sessions were revoked',
      schema: R.AdminUserDisabled,
    },
    errors: ['invalid_request', ...ADMIN_ERRORS, 'not_found'],
  },
  {
    method: 'post',
    path: '/v1/admin/users/{id}/enable',
    tag: 'admin',
    summary: 'Re-enable a disabled user (event admin_user_enabled)',
    security: 'admin',
    ok: { status: 200, description: 'The user', schema: R.AdminUserOne },
    errors: [...ADMIN_ERRORS, 'not_found'],
  },
  {
    method: 'delete',
    path: '/v1/admin/users/{id}/mfa',
    tag: 'admin',
    summary:
      "Reset a user's MFA: factor and recovery codes removed, every session revoked (event admin_mfa_reset)",
    security: 'admin',
    ok: { status: 200, description: 'How many sessions were revoked', schema: R.RevokedCount },
    errors: [...ADMIN_ERRORS, 'not_found', 'mfa_not_enabled'],
  },
  {
    method: 'get',
    path: '/v1/admin/analytics',
    tag: 'admin',
    summary: 'Sessions, logins, reuse detections and throttling over the last days',
    security: 'admin',
    query: S.AnalyticsQuery,
    ok: { status: 200, description: 'The figures', schema: R.Analytics },
    errors: ['invalid_request', ...ADMIN_ERRORS],
  },
  {
    method: 'get',
    path: '/health',
    tag: 'operations',
    summary: 'Readiness: 200 once the database answers, 503 otherwise',
    ok: { status: 200, description: 'Serving', schema: R.Health },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (METRICS_TOKEN as a Bearer token)',
    security: 'metrics',
    ok: { status: 200, description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' },
    errors: ['invalid_token', 'not_found'],
  },
];

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' });

const securityRequirement: Record<Security, Record<string, string[]>[]> = {
  bearer: [{ bearerAuth: [] }],
  bearerAal2: [{ bearerAuth: [] }],
  bearerFresh: [{ bearerAuth: [] }],
  bearerFreshAal2: [{ bearerAuth: [] }],
  introspectionClient: [{ clientSecretBasic: [] }, {}],
  metrics: [{ metricsToken: [] }],
  admin: [{ bearerAuth: [] }],
};

const securityNote: Partial<Record<Security, string>> = {
  bearerFresh: 'Needs an authentication less than 300 s old (RFC 9470 `max_age=300`).',
  bearerFreshAal2: 'Needs `acr` aal2 and an authentication less than 300 s old (RFC 9470).',
  admin:
    'An access token at `acr` aal2 (else 401 `insufficient_user_authentication`) of a user whose role is `admin` (else 403 `forbidden`); the role is granted with `npm run cli -- users:role EMAIL admin`.',
  introspectionClient:
    'client_secret_basic, or client_id and client_secret in the form (client_secret_post).',
};

function errorResponses(codes: AuthErrorCode[]) {
  const byStatus = new Map<number, AuthErrorCode[]>();
  for (const code of new Set(codes))
    byStatus.set(STATUS[code], [...(byStatus.get(STATUS[code]) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: `error: ${list.join(', ')}`,
        content: {
          'application/json': {
            schema: {
              $ref: '#/components/schemas/Error',
              examples: list.map((error) => ({ error, error_description: '…' })),
            },
          },
        },
      },
    ]),
  );
}

export function openApiDocument(options: { issuer: string; version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const okSchema = op.ok.schema
      ? op.ok.alternatives
        ? { oneOf: [op.ok.schema, ...op.ok.alternatives].map(jsonSchema) }
        : jsonSchema(op.ok.schema)
      : undefined;
    const parameters = [
      ...['id', 'session_id']
        .filter((name) => op.path.includes(`{${name}}`))
        .map((name) => ({ name, in: 'path', required: true, schema: jsonSchema(S.SessionIdParam) })),
      ...(op.query
        ? Object.entries((jsonSchema(op.query) as { properties: Record<string, unknown> }).properties).map(
            ([name, schema]) => ({ name, in: 'query', required: false, schema }),
          )
        : []),
    ];
    const notes = [op.description, op.security ? securityNote[op.security] : undefined].filter(Boolean);
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      tags: [op.tag],
      summary: op.summary,
      ...(notes.length > 0 ? { description: notes.join('\n\n') } : {}),
      operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(op.security ? { security: securityRequirement[op.security] } : { security: [] }),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: !op.body.optional,
              content: op.body.form
                ? {
                    'application/x-www-form-urlencoded': { schema: jsonSchema(op.body.schema) },
                    'application/json': { schema: jsonSchema(op.body.schema) },
                  }
                : { 'application/json': { schema: jsonSchema(op.body.schema) } },
            },
          }
        : {}),
      responses: {
        [String(op.ok.status)]: {
          description: op.ok.description,
          ...(okSchema
            ? { content: { 'application/json': { schema: okSchema } } }
            : op.ok.contentType
              ? { content: { [op.ok.contentType]: { schema: { type: 'string' } } } }
              : {}),
        },
        ...errorResponses([...(op.errors ?? []), 'server_error']),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latchkey',
      version: options.version,
      description:
        'Short-lived access JWTs (RFC 9068), rotating refresh tokens with reuse detection, TOTP MFA with step-up (RFC 9470), device sessions. Contract: API.md.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: options.issuer }],
    tags: ['auth', 'account', 'sessions', 'mfa', 'keys', 'oauth', 'admin', 'operations'].map((name) => ({
      name,
    })),
    paths,
    components: {
      schemas: { Error: jsonSchema(R.ErrorResponse) },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (RFC 9068 at+jwt)' },
        clientSecretBasic: { type: 'http', scheme: 'basic', description: 'INTROSPECTION_CLIENTS' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN' },
      },
    },
  };
}
