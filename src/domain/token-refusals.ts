/**
 * Why a Bearer token was refused, decided where the refusal is (verifyAccessToken, the
 * session check, the guard): a bounded set, so the server can count refusals by reason
 * (`latchkey_token_validations_refused_total{reason}`) without a free-form label. Never sent
 * to the client: its answer stays RFC 6750 §3.1 `invalid_token`, with no hint of which check
 * failed.
 */
export const TOKEN_REFUSALS = [
  /** No `Authorization` header (a header that is not RFC 6750 §2.1 `Bearer b64token` is `malformed`). */
  'missing',
  /** Not one of our compact JWSs: its spelling, a header or claims that are not JSON objects, `crit`/`b64`, claim types. */
  'malformed',
  /** An `alg` outside the pinned ones (RFC 8725 §3.1): `none`, HS256 and the like. */
  'wrong_algorithm',
  /** A `typ` other than at+jwt (RFC 9068 §4, RFC 8725 §3.11): an ID token, say. */
  'wrong_type',
  /** No key of ours has its `kid`: withdrawn by `keys:rotate --now`, or another server's. */
  'unknown_key',
  'bad_signature',
  'wrong_issuer',
  'wrong_audience',
  'expired',
  /** `nbf` still in the future. */
  'not_yet_valid',
  /** A valid token of a session that was revoked or has ended. */
  'session_ended',
  /** A valid token of a user who no longer exists. */
  'user_gone',
  /** A valid token that falls short of the route's assurance (RFC 9470 step-up). */
  'insufficient_assurance',
  /** A DPoP-bound token sent as Bearer, or an unbound one sent as DPoP (RFC 9449 §7.1, §7.2). */
  'wrong_scheme',
  /** A DPoP proof missing, invalid, replayed, or signed by another key than the token's (RFC 9449 §4.3). */
  'bad_dpop_proof',
  /** A refusal that did not name its reason. */
  'other',
] as const;

export type TokenRefusal = (typeof TOKEN_REFUSALS)[number];
