import { assuranceOf, FRESH_AAL2, FRESH_AUTH } from '../domain/assurance.js';
import { requireAssurance, tokenRefused } from '../domain/bearer.js';
import type { Clock } from '../ports/clock.js';
import type { SecurityEventLog, UserRecord, UserStore } from '../ports/store.js';
import { type Caller, callerFacts, userOfCaller } from './session-service.js';

/**
 * The rest of an account's life (issue #17 §6): the display name, and deleting the account.
 *
 * Deleting needs a fresh authentication, and at aal2 when the account has
 * MFA: it is at least as grave as turning MFA off, which asks the same (RFC 9470; OWASP ASVS
 * V2.2 re-authentication before sensitive operations). The store erases the personal data in
 * one transaction and leaves a tombstone that keeps the anonymised security events until
 * cleanup deletes them (docs/data-model.md, "Deleting an account").
 */
export function createUserProfile(deps: {
  store: Pick<UserStore, 'findUserById' | 'renameUser' | 'deleteAccount'> &
    Pick<SecurityEventLog, 'recordSecurityEvent'>;
  clock: Clock;
}) {
  const { store, clock } = deps;

  async function rename(caller: Caller, name: string | null): Promise<UserRecord> {
    const user = await userOfCaller(store, caller);
    const renamed = await store.renameUser(user.id, name);
    if (!renamed) throw tokenRefused('user_gone', 'The user of this access token no longer exists');
    await store.recordSecurityEvent({
      ...callerFacts(caller),
      type: 'name_changed',
      at: clock.now(),
    });
    return renamed;
  }

  async function deleteAccount(caller: Caller): Promise<{ revokedSessions: number }> {
    const now = clock.now();
    const user = await userOfCaller(store, caller);
    // One check, here, where the account's MFA is known (the route's guard only checked the token).
    requireAssurance(assuranceOf(caller), user.mfaEnabled ? FRESH_AAL2 : FRESH_AUTH, now);
    const result = await store.deleteAccount({
      userId: user.id,
      now,
      // The store keeps no address or user agent on it (the erasure of the whole log).
      event: { ...callerFacts(caller), type: 'account_deleted', at: now },
    });
    if (result === 'not_found') {
      throw tokenRefused('user_gone', 'The user of this access token no longer exists');
    }
    return { revokedSessions: result.revoked };
  }

  return { rename, deleteAccount };
}

export type UserProfile = ReturnType<typeof createUserProfile>;
