import { normalizeEmail } from '../domain/credentials.js';
import type { Clock } from '../ports/clock.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import type {
  AdminQueries,
  SecurityEventLog,
  SessionStore,
  SessionView,
  UserRecord,
  UserRole,
  UserStore,
} from '../ports/store.js';
import { createAccount } from './registration.js';

/**
 * What an operator with the database does from `npm run cli`: create users, grant roles,
 * see and revoke sessions. Each change is recorded as a security event, as the matching API
 * request records it, with `via: 'cli'` in its details so the user's log (and an auditor)
 * tells an operator's act from the user's own or an admin's. No caller, no request: whoever
 * runs the command already has the database, so there is nothing more to check here.
 */
export interface OperatorDeps {
  store: Pick<UserStore, 'findUserByEmail' | 'createUser'> &
    Pick<AdminQueries, 'setUserRole'> &
    Pick<SessionStore, 'listSessions' | 'revokeSession' | 'revokeUserSessions'> &
    Pick<SecurityEventLog, 'recordSecurityEvent'>;
  hasher: PasswordHasher;
  clock: Clock;
  passwordMinScore: number;
}

/** Marks the events of operator actions (the CLI is the operator's only door). */
const VIA = 'cli';

export type RoleChange = 'changed' | 'unchanged' | 'no_such_user';

export function createOperatorService(deps: OperatorDeps) {
  const { store, clock } = deps;
  return {
    /** The user with this email, normalised as registration and login normalise it. */
    findUser(email: string): Promise<UserRecord | undefined> {
      return store.findUserByEmail(normalizeEmail(email));
    },

    /**
     * A user by the rules of POST /v1/auth/register (createAccount: email normalisation,
     * password policy, argon2id, `user_registered`), without the per-IP sign-up limit, which
     * guards the public endpoint. Throws `AuthError` `invalid_password` or `email_taken`.
     */
    createUser(input: { email: string; password: string; name: string | null }): Promise<UserRecord> {
      return createAccount(deps, input);
    },

    /**
     * Grants or takes the admin role, with a `role_changed` event. Only an operator makes the
     * first admin: the API never grants a role. `user` is the row as the operator saw it.
     */
    async setRole(user: UserRecord, role: UserRole): Promise<RoleChange> {
      if (user.role === role) return 'unchanged';
      if (!(await store.setUserRole(user.id, role))) return 'no_such_user';
      await store.recordSecurityEvent({
        userId: user.id,
        type: 'role_changed',
        details: { from: user.role, to: role, via: VIA },
        at: clock.now(),
      });
      return 'changed';
    },

    /** The user's live sessions, newest activity first. */
    listSessions(userId: string): Promise<SessionView[]> {
      return store.listSessions(userId, clock.now());
    },

    /**
     * Revokes one live session of the user (reason `revoked_by_operator`), with the
     * `session_revoked` event DELETE /v1/sessions/:id records. False when it was not a live
     * session of this user.
     */
    async revokeSession(userId: string, sessionId: string): Promise<boolean> {
      const now = clock.now();
      const revoked = await store.revokeSession({ sessionId, userId, now, reason: 'revoked_by_operator' });
      if (!revoked) return false;
      await store.recordSecurityEvent({
        userId,
        sessionId,
        type: 'session_revoked',
        details: { via: VIA },
        at: now,
      });
      return true;
    },

    /**
     * Revokes every live session of the user (reason `revoked_by_operator`), with the
     * `sessions_revoked` event POST /v1/sessions/revoke-all records, even when there was
     * none. Returns how many were revoked.
     */
    async revokeAllSessions(userId: string): Promise<number> {
      const now = clock.now();
      const revoked = await store.revokeUserSessions({ userId, now, reason: 'revoked_by_operator' });
      await store.recordSecurityEvent({
        userId,
        sessionId: null,
        type: 'sessions_revoked',
        details: { revoked, via: VIA },
        at: now,
      });
      return revoked;
    },
  };
}

export type OperatorService = ReturnType<typeof createOperatorService>;
