import { normalizeEmail } from '../domain/credentials.js';
import type { Clock } from '../ports/clock.js';
import type { OutboxReview, OutboxStatus, RetryRefusal } from '../ports/mail.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import {
  type AdminQueries,
  NO_ORIGIN,
  type SecurityEventLog,
  type SessionStore,
  type SessionView,
  type UserRecord,
  type UserRole,
  type UserStore,
} from '../ports/store.js';
import { createOutboxReviewService } from './outbox-review.js';
import type { PasswordReset } from './password-reset.js';
import { createAccount } from './registration.js';

/**
 * What an operator with the database does from `npm run cli`: create users, grant roles,
 * see and revoke sessions, disable and enable users, send reset links, look after the outbox
 * (issue #17, flow 6 and Delivery). Each change is recorded as a security event, as the matching API
 * request records it, with `via: 'cli'` in its details so the user's log (and an auditor)
 * tells an operator's act from the user's own or an admin's. No caller, no request: whoever
 * runs the command already has the database, so there is nothing more to check here.
 */
export interface OperatorDeps {
  store: Pick<UserStore, 'findUserByEmail' | 'createUser'> &
    Pick<AdminQueries, 'setUserRole' | 'disableUser' | 'enableUser'> &
    Pick<SessionStore, 'listSessions' | 'revokeSession' | 'revokeUserSessions'> &
    Pick<SecurityEventLog, 'recordSecurityEvent'> &
    OutboxReview;
  hasher: PasswordHasher;
  clock: Clock;
  passwordMinScore: number;
  /** The reset link of `users:reset-link`: the service that owns the tokens. */
  passwordReset: Pick<PasswordReset, 'sendResetLink'>;
}

/** Marks the events of operator actions (the CLI is the operator's only door). */
const VIA = 'cli';

export type RoleChange = 'changed' | 'unchanged' | 'no_such_user';

export function createOperatorService(deps: OperatorDeps) {
  const { store, clock } = deps;
  const mail = createOutboxReviewService({ outbox: store, clock });
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
      return createAccount(deps, { ...input, origin: NO_ORIGIN });
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
        ...NO_ORIGIN,
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
        ...NO_ORIGIN,
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
        ...NO_ORIGIN,
        details: { revoked, via: VIA },
        at: now,
      });
      return revoked;
    },

    /**
     * Disables the user as POST /v1/admin/users/:id/disable does: the store's one transaction
     * under the user's lock (no login slips in; every session revoked, pending credentials and
     * reset links ended), then `admin_user_disabled` with `via: 'cli'` (which also sends the
     * "account disabled" notice). 'unchanged' (no event) when already disabled.
     */
    async disableUser(user: UserRecord): Promise<{ revoked: number } | 'unchanged' | 'no_such_user'> {
      const now = clock.now();
      const outcome = await store.disableUser({ userId: user.id, now });
      if (outcome === 'not_found') return 'no_such_user';
      if (outcome === 'unchanged') return outcome;
      await store.recordSecurityEvent({
        userId: user.id,
        type: 'admin_user_disabled',
        ...NO_ORIGIN,
        details: { revoked: outcome.revoked, via: VIA },
        at: now,
      });
      return outcome;
    },

    /** Allows logins again (`admin_user_enabled`, `via: 'cli'`); 'unchanged' when not disabled. */
    async enableUser(user: UserRecord): Promise<'enabled' | 'unchanged' | 'no_such_user'> {
      const outcome = await store.enableUser(user.id);
      if (outcome === 'not_found') return 'no_such_user';
      if (outcome === 'unchanged') return outcome;
      await store.recordSecurityEvent({
        userId: user.id,
        type: 'admin_user_enabled',
        ...NO_ORIGIN,
        details: { via: VIA },
        at: clock.now(),
      });
      return 'enabled';
    },

    /**
     * Queues a reset link to the user's own address (the password reset service: one
     * transaction, `password_reset_requested` with `by: 'operator'`). The operator never sees
     * the link: it is in the sealed outbox row only.
     */
    sendResetLink(user: UserRecord): Promise<'sent' | 'not_found' | 'disabled'> {
      return deps.passwordReset.sendResetLink({ userId: user.id, actor: { by: 'operator' } });
    },

    /** The outbox, newest first, without bodies (`mail:list`). */
    listMail(query: { status?: OutboxStatus | undefined; limit: number; cursor?: string | undefined }) {
      return mail.list(query);
    },

    /** A failed message back to pending, due now (`mail:retry`). */
    retryMail(messageId: string): Promise<'retried' | RetryRefusal> {
      return mail.retry(messageId);
    },
  };
}

export type OperatorService = ReturnType<typeof createOperatorService>;
