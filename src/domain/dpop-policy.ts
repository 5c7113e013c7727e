/**
 * Per client (RFC 9449 §5, §10.1 `dpop_bound_access_tokens`): `optional` binds the tokens of a
 * request that sends a proof, `required` refuses a token request without one, `off` ignores
 * proofs (the tokens stay bearer tokens).
 */
export const DPOP_POLICIES = ['optional', 'required', 'off'] as const;
export type DpopPolicy = (typeof DPOP_POLICIES)[number];
