import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import { checkPasswordPolicy, passwordProblemText } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';

/**
 * NIST SP 800-63B §5.1.1.2 / OWASP ASVS V2.1.7: refuse common and breached passwords, with
 * no composition rules. zxcvbn-ts with its common-language dictionaries (passwords, names,
 * keyboard patterns) estimates guessability offline; the user's email is a context word.
 * Built on first use: loading the dictionaries takes a while and most requests never need them.
 */
let estimator: ZxcvbnFactory | undefined;
const strength = (password: string, context: string[]) => {
  estimator ??= new ZxcvbnFactory({ dictionary: { ...dictionary }, graphs: adjacencyGraphs });
  return estimator.check(password, context);
};

/** Words a password must not lean on: the email and its parts. */
export const contextWordsOf = (email: string): string[] => {
  const [local = '', domain = ''] = email.split('@');
  return [email, local, ...local.split(/[._+-]/), domain.split('.')[0] ?? ''].filter(
    (word) => word.length >= 3,
  );
};

/**
 * Throws `invalid_password` for a password the policy refuses. Expects an NFKC-normalised
 * password. Length is checked first, so a 60,000-character password costs nothing more.
 */
export function assertAcceptablePassword(
  normalizedPassword: string,
  context: string[],
  minScore: number,
): void {
  const problem = checkPasswordPolicy(normalizedPassword);
  if (problem) throw new AuthError('invalid_password', passwordProblemText[problem]);
  if (minScore > 0) {
    const result = strength(normalizedPassword, context);
    if (result.score < minScore) {
      const hint = result.feedback.warning ? ` (${result.feedback.warning})` : '';
      throw new AuthError(
        'invalid_password',
        `This password is too easy to guess${hint}; try a longer passphrase`,
      );
    }
  }
}
