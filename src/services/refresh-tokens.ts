import { hmacSha256Base64url, randomToken, sha256Base64url } from '../lib/crypto.js';

/**
 * Refresh tokens are opaque: a prefix (so secret scanners can spot them) and 256 bits from
 * the CSPRNG, stored only as their SHA-256 (API.md, Tokens). A token's successor is
 * HMAC(key, token): deterministic, so parallel refreshes inside the grace window are all
 * handed the same successor without it being stored in clear, and unguessable without
 * the server's key.
 *
 * No secret is ever compared in JavaScript: a presented token (like an mfa_token or a
 * recovery code) is hashed and found by that hash through a unique index, so timing reveals
 * nothing about a stored value.
 */
const PREFIX = 'lkr_';
const SHAPE = /^lkr_[A-Za-z0-9_-]{43}$/;

export const newRefreshToken = (): string => PREFIX + randomToken(32);

export const isWellFormedRefreshToken = (token: string): boolean => SHAPE.test(token);

export const hashRefreshToken = (token: string): Promise<string> => sha256Base64url(token);

export const successorOf = async (token: string, key: CryptoKey): Promise<string> =>
  PREFIX + (await hmacSha256Base64url(key, token));
