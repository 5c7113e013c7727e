import { normalizeEmail, normalizePassword } from '../domain/credentials.js';
import { AuthError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { NewEmailToken } from '../ports/email-tokens.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import {
  originOf,
  type RequestOrigin,
  type SecurityEventLog,
  type UserRecord,
  type UserStore,
} from '../ports/store.js';
import { assertAcceptablePassword, contextWordsOf } from './passwords.js';

/**
 * Creates an account by the rules of POST /v1/auth/register: the email normalised, the
 * password policy, argon2id, the verification link's mail (in the same transaction), and the
 * `user_registered` event. Registration puts its per-IP
 * limit in front of it; the CLI's `users:create` calls it as it is.
 * Throws `invalid_password` or `email_taken`.
 */
export async function createAccount(
  deps: {
    store: Pick<UserStore, 'createUser'> & Pick<SecurityEventLog, 'recordSecurityEvent'>;
    hasher: PasswordHasher;
    clock: Clock;
    passwordMinScore: number;
    /** The verification link and its mail for the new address (none from the CLI). */
    verificationFor?:
      | ((user: { id: string; email: string }, now: Date) => Promise<NewEmailToken>)
      | undefined;
  },
  input: { email: string; password: string; name?: string | null; origin: RequestOrigin },
): Promise<UserRecord> {
  const email = normalizeEmail(input.email);
  const password = normalizePassword(input.password);
  await assertAcceptablePassword(password, contextWordsOf(email), deps.passwordMinScore);
  const id = crypto.randomUUID();
  const now = deps.clock.now();
  const created = await deps.store.createUser({
    id,
    email,
    name: input.name?.trim() || null,
    passwordHash: await deps.hasher.hash(password),
    now,
    ...(deps.verificationFor ? { verification: await deps.verificationFor({ id, email }, now) } : {}),
  });
  if (created === 'email_taken')
    throw new AuthError('email_taken', 'An account with this email already exists');
  // The address in the details: the `user.created` webhook carries it (an app provisions a profile).
  await deps.store.recordSecurityEvent({
    userId: created.id,
    type: 'user_registered',
    ...originOf(input.origin),
    details: { email: created.email },
    at: deps.clock.now(),
  });
  return created;
}
