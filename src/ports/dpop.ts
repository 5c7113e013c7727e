/**
 * The replay cache of DPoP proofs (RFC 9449 §11.1): a proof's `jti` is accepted once within
 * the window its `iat` allows, on every instance that accepts the same tokens, so it lives in
 * the shared database.
 */
export interface DpopReplayStore {
  /**
   * Remembers `key` until `until`, atomically: true when it was not remembered (or its entry had
   * expired by `now`), false when it was, so two requests with one proof get one true.
   */
  rememberDpopProof(key: string, until: Date, now: Date): Promise<boolean>;
}
