/**
 * Email and password rules shared by registration, login and password change.
 * The common-password list and context penalties come with the hardening issue;
 * `checkPasswordPolicy` is the seam where they plug in.
 */

export const EMAIL_MAX_LENGTH = 254; // RFC 5321 §4.5.3.1.3 path limit
export const PASSWORD_MIN_LENGTH = 8; // OWASP ASVS V2.1.1
export const PASSWORD_MAX_LENGTH = 128; // OWASP ASVS V2.1.2

/** Trimmed, NFKC-normalised and lower-cased, so one mailbox is one account. */
export const normalizeEmail = (email: string): string => email.trim().normalize('NFKC').toLowerCase();

/** Passwords are compared after NFKC so the same password typed on two keyboards matches. */
export const normalizePassword = (password: string): string => password.normalize('NFKC');

export type PasswordProblem = 'too_short' | 'too_long';

/** Length in code points, not UTF-16 units, as ASVS counts characters. */
export function checkPasswordPolicy(normalizedPassword: string): PasswordProblem | undefined {
  const length = [...normalizedPassword].length;
  if (length < PASSWORD_MIN_LENGTH) return 'too_short';
  if (length > PASSWORD_MAX_LENGTH) return 'too_long';
  return undefined;
}

export const passwordProblemText: Record<PasswordProblem, string> = {
  too_short: `Password must be at least ${PASSWORD_MIN_LENGTH} characters`,
  too_long: `Password must be at most ${PASSWORD_MAX_LENGTH} characters`,
};
