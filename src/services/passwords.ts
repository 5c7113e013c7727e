import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { checkPasswordPolicy, passwordProblemText } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import { onFirstUse } from '../lib/lazy.js';

/**
 * NIST SP 800-63B §5.1.1.2 / OWASP ASVS V2.1.7: refuse common and breached passwords, with
 * no composition rules. zxcvbn-ts with its common-language dictionaries (passwords, names,
 * keyboard patterns) estimates guessability offline; the user's email is a context word.
 * Loaded and built on first use: importing the dictionaries takes ~100 ms and ~10 MiB, at every
 * start, and most processes serve refreshes and logins that never need them (issue #21).
 */
const estimator = onFirstUse(async (): Promise<ZxcvbnFactory> => {
  const [core, common] = await Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common')]);
  return new core.ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });
});
const strength = async (password: string, context: string[]) => (await estimator()).check(password, context);

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
export async function assertAcceptablePassword(
  normalizedPassword: string,
  context: string[],
  minScore: number,
): Promise<void> {
  const problem = checkPasswordPolicy(normalizedPassword);
  if (problem) throw new AuthError('invalid_password', passwordProblemText[problem]);
  if (minScore > 0) {
    const result = await strength(normalizedPassword, context);
    if (result.score < minScore) {
      const hint = result.feedback.warning ? ` (${result.feedback.warning})` : '';
      throw new AuthError(
        'invalid_password',
        `This password is too easy to guess${hint}; try a longer passphrase`,
      );
    }
  }
}
