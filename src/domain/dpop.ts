import { calculateJwkThumbprint, compactVerify, EmbeddedJWK, type JWK } from 'jose';
import { sha256Base64url } from '../lib/crypto.js';
import { isCanonicalCompactJws, jsonObjectOf, jsonObjectOfBytes } from './access-token.js';

/**
 * DPoP proofs (RFC 9449): what makes one valid, in one place for the server (its token
 * endpoints and its own resource routes) and for the resource-server kit. Pure: the replay
 * cache and the nonce are the caller's (they need storage and a secret); this checks one
 * proof against one request.
 */

export const DPOP_PROOF_TYPE = 'dpop+jwt'; // RFC 9449 §4.2

/**
 * The proof algorithms accepted: asymmetric only (RFC 9449 §4.3 item 5: never `none` or a MAC),
 * the ones WebCrypto and the platform keystores (Secure Enclave: ES256; Android Keystore:
 * ES256, RS256, PS256) sign with. Advertised as `dpop_signing_alg_values_supported`.
 */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'ES384', 'PS256', 'RS256'] as const;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

// The policies live apart, so that the configuration can name them without loading jose.
import type { DpopPolicy } from './dpop-policy.js';

export { DPOP_POLICIES, type DpopPolicy } from './dpop-policy.js';

/**
 * A client's policy applied to the key its request proved (or null without a proof): `off`
 * drops it (bearer tokens), `required` refuses its absence. The one rule, for the HTTP layer
 * (where the client is known from the body) and the services (a held or MFA login).
 */
export function keyUnderPolicy(policy: DpopPolicy, jkt: string | null | undefined): string | null {
  if (policy === 'off') return null;
  if (policy === 'required' && !jkt) {
    throw new DpopError('invalid_dpop_proof', 'This client must send a DPoP proof (RFC 9449)');
  }
  return jkt ?? null;
}

/** How old a proof may be (its `iat`), and so how long its `jti` must be remembered. */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;
/** How far in the future a proof's `iat` may be (the client's clock running ahead). */
export const DPOP_CLOCK_TOLERANCE_SECONDS = 5;

/** A proof is a short JWT with one public key in it; 8 KiB holds an RSA-4096 `jwk` twice over. */
export const MAX_DPOP_PROOF_LENGTH = 8192;
const MAX_JTI_LENGTH = 256;
const MAX_NONCE_LENGTH = 512;

/** Why a proof was refused (RFC 9449 §7.1 `invalid_dpop_proof`, §8 `use_dpop_nonce`). */
export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DpopError extends Error {
  constructor(
    readonly code: DpopErrorCode,
    readonly description: string,
  ) {
    super(description);
    this.name = 'DpopError';
  }
}

const invalidProof = (description: string) => new DpopError('invalid_dpop_proof', description);

export interface DpopRequest {
  /** The request's method, as sent (`POST`). */
  method: string;
  /** The URL the client addressed, as this server's public address makes it (not the Host header). */
  url: string;
  /** The access token presented with the proof (a resource request): `ath` must be its hash. */
  accessToken?: string;
}

export interface DpopProofRules {
  now: Date;
  algorithms?: readonly DpopAlgorithm[];
  maxAgeSeconds?: number;
  clockToleranceSeconds?: number;
}

/** A proof that passed every check but the replay cache and the nonce. */
export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: what `cnf.jkt` holds (RFC 9449 §6.1). */
  jkt: string;
  jti: string;
  /** The `nonce` claim, if any, for the caller to check against the one it handed out. */
  nonce?: string;
  /** When the replay cache may forget this proof's `jti`: it is too old to be accepted after. */
  replayUntil: Date;
}

/**
 * RFC 9449 §4.3 item 9: `htu` compared without query and fragment, after RFC 3986 §6.2.2
 * syntax-based and §6.2.3 scheme-based normalisation (case of scheme and host, default port,
 * percent-encoding case, dot segments: what the WHATWG URL parser does). Undefined when it is not
 * an http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  if (value.length > 2048) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password) return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Checks one DPoP proof against the request it came with (RFC 9449 §4.3):
 * 1-2. one well-formed compact JWS (the caller refuses two `DPoP` headers, item 1), bounded in
 *    length before anything parses it;
 * 3-4. `typ` dpop+jwt, and `jti`, `htm`, `htu`, `iat` present with their types;
 * 5. `alg` one of the allowed asymmetric algorithms (never `none` or HS256, RFC 8725 §3.1);
 * 6. the signature verifies with the `jwk` of the header, which must be a public key (jose's
 *    EmbeddedJWK refuses a private one); no `crit`, no `jku`/`x5c`/`kid` indirection;
 * 8-9. `htm` and `htu` match the request;
 * 11. `iat` within the window;
 * 12. `ath` the SHA-256 of the access token, when one is presented (and absent is refused).
 * Items 10 (nonce) and 11's replay half (`jti` unseen) are the caller's, with what this returns.
 */
export async function verifyDpopProof(
  proof: string,
  request: DpopRequest,
  rules: DpopProofRules,
): Promise<VerifiedDpopProof> {
  if (proof.length > MAX_DPOP_PROOF_LENGTH || !isCanonicalCompactJws(proof)) {
    throw invalidProof('The DPoP proof is not a compact JWS');
  }
  const header = jsonObjectOf(proof.slice(0, proof.indexOf('.')));
  if (!header) throw invalidProof('The DPoP proof header is not a JSON object');
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== DPOP_PROOF_TYPE) {
    throw invalidProof('The DPoP proof must have typ dpop+jwt');
  }
  const algorithms = rules.algorithms ?? DPOP_ALGORITHMS;
  if (!algorithms.includes(header.alg as DpopAlgorithm)) {
    throw invalidProof(`The DPoP proof must be signed with one of ${algorithms.join(', ')}`);
  }
  if ('crit' in header || 'b64' in header || 'jku' in header || 'x5c' in header || 'x5u' in header) {
    throw invalidProof('The DPoP proof header has a parameter that is not allowed');
  }
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw invalidProof('The DPoP proof header must carry the public key as jwk');
  }
  if ('d' in jwk || 'p' in jwk || 'q' in jwk || 'k' in jwk) {
    throw invalidProof('The DPoP proof jwk must be a public key');
  }

  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(proof, EmbeddedJWK, { algorithms: [...algorithms] }));
  } catch {
    throw invalidProof('The DPoP proof signature does not verify with its jwk');
  }
  const claims = jsonObjectOfBytes(payloadBytes);
  if (!claims) throw invalidProof('The DPoP proof payload is not a JSON object');
  const { jti, htm, htu, iat, ath, nonce } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw invalidProof('The DPoP proof needs a jti');
  }
  if (typeof htm !== 'string' || htm !== request.method.toUpperCase()) {
    throw invalidProof('The DPoP proof htm does not match the request method');
  }
  const expectedHtu = normalizeHtu(request.url);
  if (typeof htu !== 'string' || expectedHtu === undefined || normalizeHtu(htu) !== expectedHtu) {
    throw invalidProof('The DPoP proof htu does not match the request URL');
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidProof('The DPoP proof needs an iat');
  const now = rules.now.getTime() / 1000;
  const maxAge = rules.maxAgeSeconds ?? DPOP_PROOF_MAX_AGE_SECONDS;
  const tolerance = rules.clockToleranceSeconds ?? DPOP_CLOCK_TOLERANCE_SECONDS;
  if (iat > now + tolerance) throw invalidProof('The DPoP proof iat is in the future');
  if (iat < now - maxAge) throw invalidProof('The DPoP proof is too old');
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length > MAX_NONCE_LENGTH)) {
    throw invalidProof('The DPoP proof nonce is malformed');
  }
  if (request.accessToken !== undefined) {
    if (typeof ath !== 'string' || ath !== (await sha256Base64url(request.accessToken))) {
      throw invalidProof('The DPoP proof ath does not match the access token');
    }
  }

  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(jwk as JWK, 'sha256');
  } catch {
    throw invalidProof('The DPoP proof jwk is not a key');
  }
  const verified: VerifiedDpopProof = {
    jkt,
    jti,
    replayUntil: new Date((Math.max(iat, now) + maxAge + tolerance) * 1000),
  };
  if (typeof nonce === 'string') verified.nonce = nonce;
  return verified;
}

/** The RFC 9449 §6.1 binding check: the proof's key is the one the token names. */
export function checkDpopBinding(boundJkt: string, proof: Pick<VerifiedDpopProof, 'jkt'>): void {
  // Thumbprints are public; equality here needs no constant time.
  if (boundJkt !== proof.jkt)
    throw invalidProof('The DPoP proof is signed by another key than the token is bound to');
}

/** The one `DPoP` header of a request (RFC 9449 §4.3 item 1: not two, not a list). */
export function singleDpopHeader(values: readonly string[]): string | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 1 || values[0]!.includes(',')) throw invalidProof('Send one DPoP proof');
  return values[0]!.trim();
}
