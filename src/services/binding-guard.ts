import { AuthError } from '../domain/errors.js';
import { bindingMismatches, type DeviceFacts } from '../domain/session-binding.js';
import { originOf } from '../ports/store.js';
import type { AuthServiceDeps } from './auth-flow.js';
import type { RequestDevice } from './types.js';

export function createBindingGuard(deps: Pick<AuthServiceDeps, 'store' | 'sessionBinding'>) {
  const { store } = deps;

  /**
   * SESSION_BINDING: a request from another network or browser family than `previous` (the
   * session's last request, or the device a login was held for) is recorded (`warn`), or
   * refused (`strict`). Every path that hands out tokens of an existing session or login
   * asks it: rotation, grace replay, /oauth/token, step-up and held logins (OWASP ASVS V3.3).
   * Returns false when strict mode refuses; the caller ends what was bound.
   */
  async function bindingHolds(
    previous: DeviceFacts | undefined,
    device: RequestDevice,
    subject: { userId: string; sessionId?: string },
    now: Date,
  ): Promise<boolean> {
    const policy = deps.sessionBinding;
    if (!policy || policy.mode === 'off' || !previous) return true;
    const mismatches = bindingMismatches(previous, device, policy);
    if (mismatches.length === 0) return true;
    await store.recordSecurityEvent({
      userId: subject.userId,
      sessionId: subject.sessionId ?? null,
      type: 'session_binding_mismatch',
      ...originOf(device),
      details: { mismatches, mode: policy.mode },
      at: now,
    });
    return policy.mode !== 'strict';
  }

  /** Binding of a session: in strict mode a mismatch ends the session (with any token just made). */
  async function enforceBinding(
    grant: { userId: string; sessionId: string },
    previous: DeviceFacts | undefined,
    device: RequestDevice,
    now: Date,
  ): Promise<void> {
    if (await bindingHolds(previous, device, grant, now)) return;
    await store.revokeSession({ sessionId: grant.sessionId, now, reason: 'binding_mismatch' });
    throw new AuthError(
      'invalid_grant',
      'This session is bound to another network or browser; it has been ended: sign in again',
    );
  }

  return { bindingHolds, enforceBinding };
}

export type BindingGuard = ReturnType<typeof createBindingGuard>;
