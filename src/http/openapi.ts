import { z } from 'zod';
import type { AuthErrorCode } from '../domain/errors.js';
import { STATUS } from './errors.js';
import * as R from './responses.js';
import type { Operation } from './route-table.js';
import { SessionIdParam } from './schemas.js';

/**
 * The OpenAPI 3.1 document, generated from the route declarations (src/http/route-table.ts):
 * the zod schemas that validate the requests and the response schemas the tests hold the
 * routes to, with zod's own JSON Schema output (OpenAPI 3.1 uses JSON Schema 2020-12 as it
 * is). `test/http/openapi.test.ts` checks that every route the app serves is in it.
 */

/** Every path parameter of this API is an id: a UUID. */
const PATH_PARAMETER = SessionIdParam;

const TAGS = ['auth', 'account', 'sessions', 'mfa', 'passkeys', 'keys', 'oauth', 'admin', 'operations'];

/** Example values for formats whose zod pattern a renderer would otherwise fill with random text. */
const FORMAT_EXAMPLES: Record<string, string> = {
  uuid: '0192f1c4-5b7e-7a3d-9c21-4e8f6a0b2d37',
  'date-time': '2026-01-31T09:30:00.000Z',
};

/**
 * For readers and renderers: zod states `z.int()`'s safe-integer range as bounds
 * (±9007199254740991), which say nothing a reader needs and which renderers show as the
 * example value, so bounds at that range are left out (the routes' validation keeps them;
 * real bounds such as `.min(1)` or `.positive()` stay). A UUID or date-time with no
 * example gets one (renderers otherwise make one up from zod's pattern).
 */
function forReaders(schema: Record<string, unknown>) {
  for (const key of ['minimum', 'exclusiveMinimum'] as const)
    if (schema[key] === Number.MIN_SAFE_INTEGER) delete schema[key];
  for (const key of ['maximum', 'exclusiveMaximum'] as const)
    if (schema[key] === Number.MAX_SAFE_INTEGER) delete schema[key];
  const example = typeof schema.format === 'string' ? FORMAT_EXAMPLES[schema.format] : undefined;
  if (example && schema.examples === undefined && schema.example === undefined) schema.examples = [example];
}

export const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
    override: ({ jsonSchema }) => forReaders(jsonSchema as Record<string, unknown>),
  });

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

/** Hono's `/sessions/:id` is OpenAPI's `/sessions/{id}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

export function openApiDocument(options: {
  issuer: string;
  version: string;
  operations: readonly Operation[];
}) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of options.operations) {
    const path = openApiPath(op.path);
    const okSchema = op.ok.schema
      ? op.ok.alternatives
        ? { oneOf: [op.ok.schema, ...op.ok.alternatives].map(jsonSchema) }
        : jsonSchema(op.ok.schema)
      : undefined;
    const parameters = [
      ...[...op.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
        name,
        in: 'path',
        required: true,
        schema: jsonSchema(PATH_PARAMETER),
      })),
      ...(op.query
        ? Object.entries(
            (jsonSchema(op.query.schema) as { properties: Record<string, unknown> }).properties,
          ).map(([name, schema]) => ({ name, in: 'query', required: false, schema }))
        : []),
    ];
    const notes = [op.description, op.security?.note].filter(Boolean);
    paths[path] ??= {};
    paths[path]![op.method] = {
      tags: [op.tag],
      summary: op.summary,
      ...(notes.length > 0 ? { description: notes.join('\n\n') } : {}),
      operationId: `${op.method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      security: op.security?.requirement ?? [],
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
        'Short-lived access JWTs (RFC 9068), rotating refresh tokens with reuse detection, TOTP MFA with step-up (RFC 9470), device sessions. Contract: docs/API.md in the repository.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: options.issuer }],
    tags: TAGS.map((name) => ({ name })),
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
