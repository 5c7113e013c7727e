import { randomToken, sha256Base64url } from '../lib/crypto.js';

/**
 * `mfa_token`: opaque, 256 bits, stored as SHA-256. Its own prefix and shape make it
 * useless anywhere else: it is not a JWT (refused as a Bearer token) and not a refresh token.
 */
const PREFIX = 'lkm_';
const SHAPE = /^lkm_[A-Za-z0-9_-]{43}$/;

export async function newMfaToken(): Promise<{ token: string; hash: string }> {
  const token = PREFIX + randomToken(32);
  return { token, hash: await sha256Base64url(token) };
}

export const isWellFormedMfaToken = (token: string): boolean => SHAPE.test(token);

export const hashMfaToken = (token: string): Promise<string> => sha256Base64url(token);
