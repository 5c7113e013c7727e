import { checkPasswordPolicy, passwordProblemText } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';

/** Throws `invalid_password` for a password the policy refuses. Expects an NFKC-normalised password. */
export function assertAcceptablePassword(normalizedPassword: string): void {
  const problem = checkPasswordPolicy(normalizedPassword);
  if (problem) throw new AuthError('invalid_password', passwordProblemText[problem]);
}
