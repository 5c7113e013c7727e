import { AuthError } from '../domain/errors.js';
import { randomToken, sha256Base64url } from '../lib/crypto.js';

/**
 * The tokens of the links Latchkey mails (issue #17): a prefix naming their purpose (secret
 * scanners spot it; a token of one purpose is useless for another) and 256 bits from the CSPRNG,
 * base64url, stored only as their SHA-256 and found through a unique index, so no secret is ever
 * compared in JavaScript and timing says nothing about a stored one (OWASP Forgot Password
 * Cheat Sheet).
 */
export type LinkTokenPrefix = 'lkp_' | 'lkv_' | 'lkc_' | 'lkr_';

const TOKEN_BODY = /^[A-Za-z0-9_-]{43}$/;

export function singleUseToken(prefix: LinkTokenPrefix) {
  return {
    create: (): string => prefix + randomToken(32),
    /** Bounded before the regex: no request makes it read more than a token's length. */
    isWellFormed: (token: string): boolean =>
      token.length === prefix.length + 43 &&
      token.startsWith(prefix) &&
      TOKEN_BODY.test(token.slice(prefix.length)),
    hash: (token: string): Promise<string> => sha256Base64url(token),
  };
}

/** One answer for every unusable link, whatever made it so (issue #17, "Bad input and abuse"). */
export const invalidLinkToken = () =>
  new AuthError('invalid_email_token', 'The link is invalid, expired or already used; ask for a new one');
