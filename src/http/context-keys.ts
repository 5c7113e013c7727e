import type { Context } from 'hono';
import type { AuthErrorCode } from '../domain/errors.js';
import type { RequestOrigin } from '../ports/records.js';

/** Request-context variables the metrics and the request facts read after a request. */

/** The error code a request ended with, kept before the /oauth endpoints reword it. */
export const ERROR_CODE = 'latchkeyErrorCode';
/** Set by the login route when the answer was "MFA required". */
export const MFA_REQUIRED = 'latchkeyMfaRequired';
/** Cloudflare's `request.cf`, kept before middleware (the body limit) rewraps the request. */
export const EDGE_CF = 'latchkeyEdgeCf';
/** The request's origin (request.ts `requestOrigin`), worked out once. */
export const ORIGIN = 'latchkeyOrigin';

/** What each key holds: the one place these variables are typed. */
export interface RequestFacts {
  [ERROR_CODE]: AuthErrorCode;
  [MFA_REQUIRED]: boolean;
  [EDGE_CF]: { city?: unknown; country?: unknown };
  [ORIGIN]: RequestOrigin;
}

/** Keeps a fact of this request for what runs after the handler (metrics, events). */
export function keep<K extends keyof RequestFacts>(c: Context, key: K, value: RequestFacts[K]): void {
  (c as unknown as Context<{ Variables: RequestFacts }>).set(key, value);
}

/** A fact kept earlier in this request, if any. */
export function kept<K extends keyof RequestFacts>(c: Context, key: K): RequestFacts[K] | undefined {
  // `c.get`, not `c.var`: Hono builds `c.var` anew (Object.fromEntries) at every read.
  return (c as unknown as Context<{ Variables: Partial<RequestFacts> }>).get(key);
}
