/** Request-context variables the metrics read after a request (set by the error handlers and routes). */

/** The error code a request ended with, kept before the /oauth endpoints reword it. */
export const ERROR_CODE = 'latchkeyErrorCode';
/** Set by the login route when the answer was "MFA required". */
export const MFA_REQUIRED = 'latchkeyMfaRequired';
/** Cloudflare's `request.cf`, kept before middleware (the body limit) rewraps the request. */
export const EDGE_CF = 'latchkeyEdgeCf';
