import { base64url } from 'jose';
import type { AccessTokenClaims } from './claims.js';

const textDecoder = new TextDecoder();

/**
 * Verified access tokens, keyed by the whole token string, each until its own `exp` (plus
 * the clock tolerance): a resource server sees the same token many times in its lifetime,
 * and a repeat then costs a map lookup instead of a signature check. Bounded: when full, the
 * oldest entry goes (all tokens live equally long, so insertion order is expiry order).
 * Only tokens that passed every check get in; a refusal is never cached. The entry is the
 * claims object itself, frozen (callers share it): no allocation of our own per token.
 * When a signing key leaves the JWKS, the tokens it signed go (`dropSignedBy`).
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, Readonly<AccessTokenClaims>>();

  constructor(
    readonly maxEntries: number,
    private readonly toleranceMs: number,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  get(token: string, nowMs: number): Readonly<AccessTokenClaims> | undefined {
    const claims = this.#entries.get(token);
    if (claims === undefined) return undefined;
    if (nowMs < claims.exp * 1000 + this.toleranceMs) return claims;
    this.#entries.delete(token);
    return undefined;
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  /**
   * Drops the tokens signed with a key in `kids` (and any without a `kid`: which key signed
   * those is unknown). Rare (a key left the JWKS), so a scan: the `kid` of each distinct
   * header (one per key, in practice) is decoded once.
   */
  dropSignedBy(kids: ReadonlySet<string>): void {
    const kidOfHeader = new Map<string, unknown>();
    for (const token of this.#entries.keys()) {
      const header = token.slice(0, token.indexOf('.'));
      if (!kidOfHeader.has(header)) {
        // Verified tokens only: the header is a JSON object.
        kidOfHeader.set(header, JSON.parse(textDecoder.decode(base64url.decode(header))).kid);
      }
      const kid = kidOfHeader.get(header);
      if (typeof kid !== 'string' || kids.has(kid)) this.#entries.delete(token);
    }
  }

  /** Keeps `claims` (frozen) until its `exp`; returns them frozen. */
  set(token: string, claims: AccessTokenClaims): Readonly<AccessTokenClaims> {
    Object.freeze(claims.amr);
    if (Array.isArray(claims.aud)) Object.freeze(claims.aud);
    // The DPoP binding every later request of this token is checked against (RFC 9449 §6.1).
    if (claims.cnf) Object.freeze(claims.cnf);
    const frozen = Object.freeze(claims);
    if (this.maxEntries <= 0) return frozen;
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, frozen);
    return frozen;
  }
}
