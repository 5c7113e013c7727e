import { hmacSha256Base64url, randomBytes } from '../lib/crypto.js';

/**
 * Recovery codes: 10 per user, 12 characters of Crockford base32 (60 bits each, OWASP
 * MFA cheat sheet asks for enough entropy to resist guessing), shown in three groups of four.
 * Stored as HMAC-SHA-256 under a key derived from the master secret.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // no I, L, O, U: nothing to misread
export const RECOVERY_CODE_COUNT = 10;
const LENGTH = 12;

export function newRecoveryCode(): string {
  const bytes = randomBytes(LENGTH);
  const chars = [...bytes].map((byte) => ALPHABET[byte & 31]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4, 8).join('')}-${chars.slice(8).join('')}`;
}

/** What the user typed, in canonical form: case, spaces and dashes do not matter; O→0, I/L→1. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const code = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return code.length === LENGTH && [...code].every((char) => ALPHABET.includes(char)) ? code : undefined;
}

export const hashRecoveryCode = (key: CryptoKey, normalized: string): Promise<string> =>
  hmacSha256Base64url(key, normalized);
