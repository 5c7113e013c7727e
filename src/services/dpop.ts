import type { DpopContext } from '../domain/bearer.js';
import {
  DpopError,
  type DpopPolicy,
  keyUnderPolicy,
  singleDpopHeader,
  type VerifiedDpopProof,
  verifyDpopProof,
} from '../domain/dpop.js';
import { AuthError } from '../domain/errors.js';
import { constantTimeEqual, hmacSha256Base64url, sha256Base64url } from '../lib/crypto.js';
import type { Clock } from '../ports/clock.js';
import type { DpopReplayStore } from '../ports/dpop.js';

/** A proof refused at a token endpoint: the RFC 9449 §5 JSON error (400), not a challenge. */
export function asTokenEndpointError(error: unknown): unknown {
  return error instanceof DpopError ? new AuthError(error.code, error.description) : error;
}

/** What the HTTP layer knows of a request that may carry a DPoP proof. */
export interface DpopRequestFacts {
  /** Every `DPoP` header value (two are refused). */
  proofs: readonly string[];
  method: string;
  /** The route's path; the URL the client addressed is ISSUER + path (not the Host header). */
  path: string;
}

export interface DpopProofs {
  /** The policy of a client: DPOP_CLIENTS, else DPOP_POLICY. */
  policyFor(clientId: string): DpopPolicy;
  /**
   * The token endpoints (RFC 9449 §5): the key of the request's proof, once the proof is
   * checked and remembered, or null without one. With the client known, its policy applies
   * here (`off`: the proof is not looked at); the services apply it again where the client is
   * known only to them (a held login, an MFA login): session-tokens.ts `bindingKey`. Throws
   * `AuthError('invalid_dpop_proof')` (400).
   */
  tokenRequestKey(request: DpopRequestFacts, clientId?: string): Promise<string | null>;
  /** The guard's context on a resource route: the proof is checked only with a bound token. */
  resourceContext(request: DpopRequestFacts): DpopContext;
  /** With DPOP_NONCE: the nonce to hand out now (`DPoP-Nonce`), else undefined. */
  currentNonce(): Promise<string | undefined>;
}

/** A server nonce (RFC 9449 §8) is good for the window it was made in and the next one: 5 to 10 minutes. */
const NONCE_WINDOW_MS = 5 * 60 * 1000;

/**
 * DPoP for this server: the proof checks of domain/dpop.ts, against this server's public URL
 * (ISSUER), with the replay cache in the shared database (RFC 9449 §11.1: a `jti` seen on one
 * instance is refused on every other).
 */
export function createDpopProofs(deps: {
  store: DpopReplayStore;
  clock: Clock;
  issuer: string;
  policy: { policy: DpopPolicy; clients: Record<string, DpopPolicy>; nonce?: boolean };
  /** MasterKeys.dpopNonceKey: nonces are stateless, the same on every instance. */
  nonceKey?: CryptoKey;
}): DpopProofs {
  const { store, clock, issuer } = deps;
  const urlOf = (path: string) => `${issuer}${path}`;
  const nonceKey = deps.policy.nonce ? deps.nonceKey : undefined;

  /**
   * `<window>.<HMAC(window)>`: checked without storage, on any instance with the same
   * MASTER_SECRET. The same for five minutes, so the last two are kept: a DPoP request would
   * otherwise compute the current one twice (the DPoP-Nonce header, then the proof's check).
   */
  const recent = new Map<number, Promise<string>>();
  const nonceFor = (key: CryptoKey, window: number): Promise<string> => {
    let nonce = recent.get(window);
    if (!nonce) {
      nonce = hmacSha256Base64url(key, `dpop-nonce:${window}`).then((mac) => `${window.toString(36)}.${mac}`);
      recent.set(window, nonce);
      for (const kept of recent.keys()) if (kept < window - 1) recent.delete(kept);
    }
    return nonce;
  };

  async function currentNonce(): Promise<string | undefined> {
    if (!nonceKey) return undefined;
    return nonceFor(nonceKey, Math.floor(clock.now().getTime() / NONCE_WINDOW_MS));
  }

  /** RFC 9449 §8: without the nonce of this window or the last, the client is asked to use a fresh one. */
  async function checkNonce(proof: VerifiedDpopProof): Promise<void> {
    if (!nonceKey) return;
    const window = Math.floor(clock.now().getTime() / NONCE_WINDOW_MS);
    const presented = proof.nonce;
    if (presented !== undefined) {
      for (const candidate of [window, window - 1]) {
        if (constantTimeEqual(presented, await nonceFor(nonceKey, candidate))) return;
      }
    }
    throw new DpopError('use_dpop_nonce', 'Sign the DPoP proof with the nonce in the DPoP-Nonce header');
  }

  async function remember(proof: VerifiedDpopProof): Promise<boolean> {
    // The jti is the client's; hashed with the key it is bounded and unique per key.
    const key = await sha256Base64url(`${proof.jkt}.${proof.jti}`);
    return store.rememberDpopProof(key, proof.replayUntil, clock.now());
  }

  const policyFor = (clientId: string): DpopPolicy =>
    Object.hasOwn(deps.policy.clients, clientId) ? deps.policy.clients[clientId]! : deps.policy.policy;

  return {
    policyFor,

    async tokenRequestKey(request, clientId) {
      const policy = clientId === undefined ? 'optional' : policyFor(clientId);
      if (policy === 'off') return null;
      try {
        const header = singleDpopHeader(request.proofs);
        if (!header) return keyUnderPolicy(policy, null);
        const proof = await verifyDpopProof(
          header,
          { method: request.method, url: urlOf(request.path) },
          { now: clock.now() },
        );
        await checkNonce(proof);
        // Counted before the work it guards: a replayed proof is refused before any token moves.
        if (!(await remember(proof)))
          throw new DpopError('invalid_dpop_proof', 'This DPoP proof was used already');
        return proof.jkt;
      } catch (error) {
        throw asTokenEndpointError(error);
      }
    },

    resourceContext(request) {
      return {
        method: request.method,
        url: urlOf(request.path),
        proofs: request.proofs,
        remember,
        checkNonce,
      };
    },

    currentNonce,
  };
}
