import { type AssuranceFacts, type AssuranceRequirement, checkAssurance } from './assurance.js';
import { AuthError, type StepUpChallenge } from './errors.js';

/**
 * Bearer-token rules shared by the server's own guard and the resource-server kit
 * (`latchkey/verify`), so both answer the same way: RFC 6750 for the token, RFC 9470 for
 * assurance. Pure: no framework, no runtime.
 */

export type BearerErrorCode = 'invalid_token' | 'insufficient_user_authentication';

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
  /** A refusal that did not name its reason. */
  'other',
] as const;

export type TokenRefusal = (typeof TOKEN_REFUSALS)[number];

/** A refused Bearer request: always 401 with a `WWW-Authenticate` challenge. */
export class BearerError extends AuthError {
  declare readonly code: BearerErrorCode;
  readonly status = 401;
  /** Why, for the server's metrics; `insufficient_assurance` for every step-up challenge. */
  readonly reason: TokenRefusal;

  constructor(
    code: BearerErrorCode,
    description: string,
    challenge?: StepUpChallenge,
    reason?: TokenRefusal,
  ) {
    super(code, description, challenge ? { challenge } : {});
    this.name = 'BearerError';
    this.reason =
      reason ?? (code === 'insufficient_user_authentication' ? 'insufficient_assurance' : 'other');
  }

  /** The `WWW-Authenticate` header value for this refusal. */
  get wwwAuthenticate(): string {
    return bearerChallenge(this)!;
  }
}

/** An `invalid_token` refusal that names its reason. */
export const tokenRefused = (reason: TokenRefusal, description: string): BearerError =>
  new BearerError('invalid_token', description, undefined, reason);

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i; // RFC 6750 §2.1 b64token

/** The Bearer token of an `Authorization` header, if it carries one. */
export const bearerToken = (header: string | null | undefined): string | undefined =>
  header?.match(BEARER)?.[1];

const quote = (value: string) => `"${value.replace(/["\\]/g, '')}"`;

/** RFC 6750 §3 and RFC 9470 §3 challenges; undefined for errors that are not about the token. */
export function bearerChallenge(
  error: Pick<AuthError, 'code' | 'description' | 'challenge'>,
): string | undefined {
  if (error.code !== 'invalid_token' && error.code !== 'insufficient_user_authentication') return undefined;
  const parts = [`Bearer error="${error.code}"`, `error_description=${quote(error.description)}`];
  if (error.challenge?.acrValues) parts.push(`acr_values=${quote(error.challenge.acrValues)}`);
  if (error.challenge?.maxAge !== undefined) parts.push(`max_age=${error.challenge.maxAge}`);
  return parts.join(', ');
}

/**
 * The whole guard: takes the token from the header, authenticates it (the server checks the
 * session too; the kit checks signature, claims and the revocation feed) and checks the
 * route's assurance needs. Throws `BearerError`.
 */
export async function authorizeBearer<Claims extends { acr: string; auth_time: number }>(input: {
  authorization: string | null | undefined;
  authenticate: (token: string) => Promise<Claims>;
  need: AssuranceRequirement;
  now: () => Date;
}): Promise<{ token: string; claims: Claims }> {
  const token = bearerToken(input.authorization);
  if (!token) {
    throw tokenRefused(input.authorization ? 'malformed' : 'missing', 'A Bearer access token is required');
  }
  const claims = await input.authenticate(token);
  requireAssurance({ acr: claims.acr, authTime: claims.auth_time }, input.need, input.now());
  return { token, claims };
}

/** Throws the RFC 9470 step-up challenge when `facts` fall short of `need`. */
export function requireAssurance(facts: AssuranceFacts, need: AssuranceRequirement, now: Date): void {
  const verdict = checkAssurance(facts, need, now);
  if (!verdict.ok) {
    throw new BearerError('insufficient_user_authentication', verdict.description, {
      ...(verdict.acrValues ? { acrValues: verdict.acrValues } : {}),
      ...(verdict.maxAge !== undefined ? { maxAge: verdict.maxAge } : {}),
    });
  }
}
