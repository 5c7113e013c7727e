import { type Context, type Env, Hono, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { AssuranceRequirement } from '../domain/assurance.js';
import { AuthError, type AuthErrorCode } from '../domain/errors.js';
import { type BearerContext, requireAuth } from './middleware/require-auth.js';
import { readJson, readParams } from './request.js';

/**
 * Each route is declared once: the declaration registers the handler on the module's Hono
 * sub-app, reads and validates its body and query with the declared zod schemas, and is what
 * `/openapi.json` is generated from (src/http/openapi.ts). Hand-written rather than
 * `@hono/zod-openapi`: that brings its own validator, whose answers to a wrong content type or
 * an empty body are not ours (415, an empty body where a cookie or Bearer token may stand in,
 * the /oauth form rules of RFC 6749 §3.2), and needs zod's `.openapi()` extension, while zod 4's
 * own `z.toJSONSchema` already gives OpenAPI 3.1 its JSON Schema.
 */

export type Method = 'get' | 'post' | 'patch' | 'delete';

/** What the document states about who may call: security requirements, and a note if needed. */
export interface Security {
  /** OpenAPI security requirements (names of src/http/openapi.ts's security schemes). */
  requirement: Record<string, string[]>[];
  /** What a caller must know beyond the scheme (assurance, freshness, role). */
  note?: string;
}

/** A guard: the middleware that enforces it and the security the document states, one value. */
export interface Guard<E extends Env = Env> extends Security {
  middleware: MiddlewareHandler<E>[];
}

/** The errors any route with a body can answer (readJson, readParams, the body limit). */
export const BAD_INPUT: AuthErrorCode[] = ['invalid_request', 'unsupported_media_type', 'payload_too_large'];
/** The errors of a Bearer guard. */
export const BEARER_ERRORS: AuthErrorCode[] = ['invalid_token', 'temporarily_unavailable'];

const BEARER = [{ bearerAuth: [] }];

/** RFC 9470 step-up, as the document says it: derived from the same requirement the guard checks. */
function assuranceNote(need: AssuranceRequirement): string | undefined {
  if (need.acr && need.maxAge !== undefined)
    return `Needs \`acr\` ${need.acr} and an authentication less than ${need.maxAge} s old (RFC 9470).`;
  if (need.maxAge !== undefined)
    return `Needs an authentication less than ${need.maxAge} s old (RFC 9470 \`max_age=${need.maxAge}\`).`;
  if (need.acr) return `Needs \`acr\` ${need.acr} (RFC 9470).`;
  return undefined;
}

/** A Bearer access token of a live session (requireAuth), with an optional RFC 9470 requirement. */
export function bearerGuard(ctx: BearerContext, need: AssuranceRequirement = {}): Guard {
  const note = assuranceNote(need);
  return {
    requirement: BEARER,
    ...(note ? { note } : {}),
    middleware: [requireAuth(ctx, need) as MiddlewareHandler],
  };
}

/** A guard with more checks after the token's (e.g. the admin role), documented as one. */
export function extendGuard(guard: Guard, note: string, ...more: MiddlewareHandler[]): Guard {
  return { requirement: guard.requirement, note, middleware: [...guard.middleware, ...more] };
}

export interface OkResponse {
  status: number;
  description: string;
  schema?: z.ZodType;
  /** Other bodies the same status may carry (e.g. "MFA required" beside a token pair). */
  alternatives?: z.ZodType[];
  /** A non-JSON body (e.g. Prometheus text). */
  contentType?: string;
}

export interface BodyDeclaration<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** The /oauth endpoints: form-urlencoded or JSON (readParams). */
  form?: boolean;
  /** No body at all is allowed (a cookie or Bearer token may stand in): readJson's allowEmpty. */
  optional?: boolean;
}

export interface QueryDeclaration<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** The 400 `invalid_request` description when the query is refused. */
  invalid: (error: z.ZodError) => string;
}

/** One route, as the document states it and as the app serves it. */
export interface Operation {
  method: Method;
  /** The full path, in Hono's syntax (`:id`). */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  security?: Security;
  body?: BodyDeclaration;
  query?: QueryDeclaration;
  ok: OkResponse;
  errors?: AuthErrorCode[];
}

/** A declaration, as a route module writes it: its path is relative to the table's base. */
export interface Declaration<B extends z.ZodType, Q extends z.ZodType>
  extends Omit<Operation, 'body' | 'query' | 'security'> {
  security?: Security | Guard;
  /** Middleware of this route only that the document has nothing to say about (e.g. CORS). */
  use?: MiddlewareHandler[];
  body?: BodyDeclaration<B>;
  query?: QueryDeclaration<Q>;
}

/** The parsed value, or undefined for a route that declares none (B or Q left at `never`). */
type Parsed<S extends z.ZodType> = [S] extends [never] ? undefined : z.output<S>;
export type Input<B extends z.ZodType, Q extends z.ZodType> = { body: Parsed<B>; query: Parsed<Q> };
export type Handler<E extends Env, B extends z.ZodType, Q extends z.ZodType> = (
  c: Context<E>,
  input: Input<B, Q>,
) => Response | Promise<Response>;

/** A route module's sub-app, with its mount point and its declarations. */
export type DeclaredRoutes = Hono<Env> & { readonly base: string; readonly operations: readonly Operation[] };

export interface RouteTable<E extends Env> {
  route<B extends z.ZodType = never, Q extends z.ZodType = never>(
    declaration: Declaration<B, Q>,
    handler: Handler<E, B, Q>,
  ): void;
  /** The sub-app for the module to add plain middleware to (CORS, headers, onError). */
  app: Hono<E>;
  /** What the route module returns: the sub-app, to be mounted at `base`, and its declarations. */
  done(): DeclaredRoutes;
}

/**
 * A route table mounted at `base`. `guard` protects the whole table at `guardPaths` (default
 * every path: an unknown path under it is refused before it is found missing) and is stated
 * as every route's security. A route's own `security` is what the document states for it, and
 * its middleware runs after the table's (no route of this API needs that today).
 */
export function routeTable<E extends Env>(
  base: string,
  options: { guard?: Guard; guardPaths?: string[] } = {},
): RouteTable<E> {
  const app = new Hono<E>();
  const operations: Operation[] = [];
  const loose = app as unknown as Hono;
  // Hono's typed overloads cannot take a spread of middleware: one untyped registration.
  const register = loose.on.bind(loose) as unknown as (
    method: string,
    path: string,
    ...handlers: MiddlewareHandler[]
  ) => void;
  if (options.guard)
    for (const path of options.guardPaths ?? ['*']) loose.use(path, ...options.guard.middleware);

  return {
    app,
    route(declaration, handler) {
      const { use = [], security = options.guard, ...rest } = declaration;
      // The table's guard already runs (app.use) on every path it covers; a route's own runs with the route.
      const own =
        security && security !== options.guard && 'middleware' in security
          ? (security as Guard).middleware
          : [];
      const { body, query } = declaration as Declaration<z.ZodType, z.ZodType>;
      operations.push({
        ...rest,
        // Hono mounts a table's '/' at its base itself (app.route merges '/v1/passkeys' + '/').
        path: declaration.path === '/' && base ? base : base + declaration.path,
        ...(security
          ? {
              security: {
                requirement: security.requirement,
                ...(security.note ? { note: security.note } : {}),
              },
            }
          : {}),
      } as Operation);
      register(declaration.method.toUpperCase(), declaration.path, ...use, ...own, async (c: Context) => {
        const input = {
          body: body ? await readBody(c, body) : undefined,
          query: query ? readQuery(c, query) : undefined,
        };
        return handler(c as Context<E>, input as Input<never, never>);
      });
    },
    done: () => Object.assign(app, { base, operations }) as unknown as DeclaredRoutes,
  };
}

/** The request readers of src/http/request.ts, with their 415/400 answers, chosen by the declaration. */
const readBody = (c: Context, body: BodyDeclaration) =>
  body.form ? readParams(c, body.schema) : readJson(c, body.schema, { allowEmpty: body.optional ?? false });

function readQuery(c: Context, query: QueryDeclaration) {
  const parsed = query.schema.safeParse(c.req.query());
  if (!parsed.success) throw new AuthError('invalid_request', query.invalid(parsed.error));
  return parsed.data;
}

/** Mounts route modules at their bases; returns their declarations, for the document. */
export function mountRoutes(app: Hono<Env>, modules: DeclaredRoutes[]): readonly Operation[] {
  for (const module of modules) app.route(module.base || '/', module);
  return modules.flatMap((module) => module.operations);
}
