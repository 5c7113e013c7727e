import { type AssuranceFacts, type AssuranceRequirement, checkAssurance } from './assurance.js';
import {
  checkDpopBinding,
  DPOP_ALGORITHMS,
  DpopError,
  type DpopErrorCode,
  singleDpopHeader,
  type VerifiedDpopProof,
  verifyDpopProof,
} from './dpop.js';
import { AuthError, type StepUpChallenge } from './errors.js';

/**
 * Bearer-token rules shared by the server's own guard and the resource-server kit
 * (`latchkey/verify`), so both answer the same way: RFC 6750 for the token, RFC 9470 for
 * assurance. Pure: no framework, no runtime.
 */

export type BearerErrorCode = 'invalid_token' | 'insufficient_user_authentication' | DpopErrorCode;

/** The `Authorization` schemes: RFC 6750 Bearer, and RFC 9449 §7.1 DPoP for key-bound tokens. */
export type AuthorizationScheme = 'Bearer' | 'DPoP';

// The reasons live apart, so that the metrics can name them without loading jose.
import type { TokenRefusal } from './token-refusals.js';

export { TOKEN_REFUSALS, type TokenRefusal } from './token-refusals.js';

/** A refused Bearer or DPoP request: always 401 with a `WWW-Authenticate` challenge. */
export class BearerError extends AuthError {
  declare readonly code: BearerErrorCode;
  readonly status = 401;
  /** Why, for the server's metrics; `insufficient_assurance` for every step-up challenge. */
  readonly reason: TokenRefusal;
  /** The scheme the challenge names: DPoP when the token is key-bound or came as DPoP. */
  scheme: AuthorizationScheme = 'Bearer';

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
const AUTHORIZATION = /^(Bearer|DPoP)[ ]+([A-Za-z0-9\-._~+/]+=*)$/i; // RFC 9449 §7.1: the same token68

/** The Bearer token of an `Authorization` header, if it carries one. */
export const bearerToken = (header: string | null | undefined): string | undefined =>
  header?.match(BEARER)?.[1];

/** The scheme and token of an `Authorization` header: `Bearer` (RFC 6750) or `DPoP` (RFC 9449). */
export function authorizationToken(
  header: string | null | undefined,
): { scheme: AuthorizationScheme; token: string } | undefined {
  const match = header?.match(AUTHORIZATION);
  if (!match) return undefined;
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
}

const quote = (value: string) => `"${value.replace(/["\\]/g, '')}"`;

/** RFC 6750 §3, RFC 9449 §7.1 and RFC 9470 §3 challenges; undefined for errors that are not about the token. */
export function bearerChallenge(
  error: Pick<AuthError, 'code' | 'description' | 'challenge'> & { scheme?: AuthorizationScheme },
): string | undefined {
  const dpop = error.scheme === 'DPoP';
  // A token endpoint's invalid_dpop_proof is a plain 400 (RFC 9449 §5): no challenge.
  const about = dpop
    ? ['invalid_token', 'insufficient_user_authentication', 'invalid_dpop_proof', 'use_dpop_nonce']
    : ['invalid_token', 'insufficient_user_authentication'];
  if (!about.includes(error.code)) return undefined;
  const parts = [
    `${dpop ? 'DPoP' : 'Bearer'} error="${error.code}"`,
    `error_description=${quote(error.description)}`,
  ];
  if (error.challenge?.acrValues) parts.push(`acr_values=${quote(error.challenge.acrValues)}`);
  if (error.challenge?.maxAge !== undefined) parts.push(`max_age=${error.challenge.maxAge}`);
  if (dpop) parts.push(`algs="${DPOP_ALGORITHMS.join(' ')}"`);
  return parts.join(', ');
}

/** What checking a request's DPoP proof needs beyond the proof: the request, and a replay cache. */
export interface DpopContext {
  /** The request's method and its URL as the client addressed it (the public origin, not the Host header). */
  method: string;
  url: string;
  /** Every `DPoP` header of the request (two are refused). */
  proofs: readonly string[];
  /**
   * Remembers a proof's `jti` until `replayUntil`; false when it was seen already: the check
   * and the write are one atomic step (RFC 9449 §11.1), shared by every instance that
   * accepts the same tokens.
   */
  remember(proof: VerifiedDpopProof): Promise<boolean>;
  /** Checks a proof's `nonce` (RFC 9449 §9); throws DpopError('use_dpop_nonce') to ask for a fresh one. */
  checkNonce?: (proof: VerifiedDpopProof) => Promise<void> | void;
}

/** `cnf.jkt` of an access token's claims (RFC 9449 §6.1), if it is key-bound. */
export function boundKeyOf(claims: { cnf?: unknown }): string | undefined {
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const jkt = (cnf as { jkt?: unknown }).jkt;
  return typeof jkt === 'string' ? jkt : undefined;
}

function dpopRefusal(error: unknown): BearerError {
  const refusal =
    error instanceof DpopError
      ? new BearerError(error.code, error.description, undefined, 'bad_dpop_proof')
      : new BearerError('invalid_dpop_proof', 'The DPoP proof is invalid', undefined, 'bad_dpop_proof');
  refusal.scheme = 'DPoP';
  return refusal;
}

/**
 * A DPoP request's proof (RFC 9449 §4.3, §7.1): present, valid for this request and this
 * access token (`ath`), signed by the token's key, its nonce accepted, and never seen before.
 * The replay cache is written last, so a refused proof is not remembered. Throws `BearerError`.
 */
export async function checkResourceProof(
  dpop: DpopContext,
  token: string,
  boundJkt: string,
  now: Date,
): Promise<VerifiedDpopProof> {
  try {
    const header = singleDpopHeader(dpop.proofs);
    if (!header)
      throw new DpopError('invalid_dpop_proof', 'A DPoP proof is required with a DPoP-bound token');
    const proof = await verifyDpopProof(
      header,
      { method: dpop.method, url: dpop.url, accessToken: token },
      { now },
    );
    checkDpopBinding(boundJkt, proof);
    await dpop.checkNonce?.(proof);
    if (!(await dpop.remember(proof))) {
      throw new DpopError('invalid_dpop_proof', 'This DPoP proof was used already');
    }
    return proof;
  } catch (error) {
    if (error instanceof DpopError) throw dpopRefusal(error);
    throw error;
  }
}

/**
 * The whole guard: takes the token from the header, authenticates it (the server checks the
 * session too; the kit checks signature, claims and the revocation feed), holds a key-bound
 * token to its key (RFC 9449 §7: `Authorization: DPoP` and a proof; a bound token sent as
 * Bearer is refused, and so is an unbound one sent as DPoP) and checks the route's assurance
 * needs. Without `dpop` (a caller that cannot check proofs) a bound token is refused.
 * Throws `BearerError`.
 */
export async function authorizeBearer<
  Claims extends { acr: string; auth_time: number; cnf?: unknown },
>(input: {
  authorization: string | null | undefined;
  authenticate: (token: string) => Promise<Claims>;
  need: AssuranceRequirement;
  now: () => Date;
  dpop?: DpopContext;
}): Promise<{ token: string; claims: Claims; scheme: AuthorizationScheme; dpop?: VerifiedDpopProof }> {
  const presented = authorizationToken(input.authorization);
  if (!presented) {
    throw tokenRefused(input.authorization ? 'malformed' : 'missing', 'A Bearer access token is required');
  }
  const { scheme, token } = presented;
  let claims: Claims;
  try {
    claims = await input.authenticate(token);
  } catch (error) {
    if (error instanceof BearerError && scheme === 'DPoP') error.scheme = 'DPoP';
    throw error;
  }
  const bound = boundKeyOf(claims);
  let proof: VerifiedDpopProof | undefined;
  if (bound === undefined && scheme === 'DPoP') {
    const refusal = tokenRefused('wrong_scheme', 'This access token is not DPoP-bound: send it as Bearer');
    refusal.scheme = 'DPoP';
    throw refusal;
  }
  if (bound !== undefined) {
    if (scheme !== 'DPoP' || !input.dpop) {
      // RFC 9449 §7.2: a bound token presented as a bearer token is not accepted.
      const refusal = tokenRefused(
        'wrong_scheme',
        'This access token is DPoP-bound: send it as DPoP with a proof',
      );
      refusal.scheme = 'DPoP';
      throw refusal;
    }
    proof = await checkResourceProof(input.dpop, token, bound, input.now());
  }
  try {
    requireAssurance({ acr: claims.acr, authTime: claims.auth_time }, input.need, input.now());
  } catch (error) {
    if (error instanceof BearerError && bound !== undefined) error.scheme = 'DPoP';
    throw error;
  }
  return { token, claims, scheme, ...(proof ? { dpop: proof } : {}) };
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
