import type { MasterKeys } from '../lib/crypto.js';
import type { Logger } from '../ports/logger.js';
import type { MailMessage, MessageKind, NewOutboxMessage } from '../ports/mail.js';
import type { SecurityEvent, UserStore } from '../ports/store.js';
import { outboxMessage } from './mail-sealing.js';
import { passwordChangedMail } from './mail-templates/password-changed.js';
import { FEW_RECOVERY_CODES, type NoticeFacts, securityNotice } from './mail-templates/security-notices.js';

/**
 * Which security events the account's owner hears of by email (issue #17 §4,
 * SECURITY_NOTIFICATIONS, on by default), and the message for each. The messages are written
 * to the outbox in the same transaction as the event (src/compose/services.ts wraps the
 * event log), so a notice exists exactly when its event does.
 */
export function noticeKindOf(event: SecurityEvent): MessageKind | undefined {
  const details = event.details ?? {};
  switch (event.type) {
    case 'login_succeeded':
      // No history yet (a first sign-in, or none in 90 days): nothing to compare with.
      if (details.first_sign_in === true) return undefined;
      if (details.new_device === true || details.new_location === true) return 'new_device_login';
      return details.unusual_time === true ? 'unusual_time_login' : undefined;
    case 'password_changed':
      return 'password_changed';
    case 'mfa_enabled':
      return 'mfa_enabled';
    case 'mfa_disabled':
    case 'admin_mfa_reset':
      return 'mfa_disabled';
    case 'recovery_code_used':
      return typeof details.remaining === 'number' && details.remaining <= FEW_RECOVERY_CODES
        ? 'recovery_codes_low'
        : 'recovery_code_used';
    case 'refresh_token_reused':
      return 'refresh_token_reused';
    case 'admin_user_disabled':
      return 'account_disabled';
    case 'passkey_added':
    case 'passkey_removed':
    case 'passkey_clone_suspected':
      return event.type;
    default:
      // The reset flow sends its own "password changed" notice with the change (password-reset.ts).
      return undefined;
  }
}

export type SecurityNotices = (event: SecurityEvent) => Promise<NewOutboxMessage[]>;

export function createSecurityNotifications(deps: {
  store: Pick<UserStore, 'findUserById'>;
  masterKeys: MasterKeys;
  productName: string;
  logger: Logger;
}): SecurityNotices {
  const { store, masterKeys, productName, logger } = deps;

  function render(kind: MessageKind, event: SecurityEvent, to: string): MailMessage | undefined {
    const details = event.details ?? {};
    const facts: NoticeFacts = {
      to,
      productName,
      at: event.at,
      ipAddress: event.ipAddress ?? null,
      userAgent: event.userAgent ?? null,
      location: typeof details.location === 'string' ? details.location : null,
      // The passkey events' `name` is the passkey's (src/services/passkeys.ts).
      passkeyName: kind.startsWith('passkey_') && typeof details.name === 'string' ? details.name : null,
    };
    if (kind === 'password_changed') return passwordChangedMail({ ...facts, how: 'change' });
    const remaining = typeof details.remaining === 'number' ? details.remaining : undefined;
    return securityNotice(kind, remaining === undefined ? facts : { ...facts, remaining });
  }

  return async (event) => {
    const kind = noticeKindOf(event);
    if (!kind) return [];
    try {
      const user = await store.findUserById(event.userId);
      // Gone meanwhile. (A deleted account has no session left to cause a notifiable event.)
      if (!user) return [];
      const message = render(kind, event, user.email);
      if (!message) return [];
      return [await outboxMessage(masterKeys, { kind, userId: user.id, message, now: event.at })];
    } catch (error) {
      // A notice that cannot be written must not fail the sign-in or the change it is about.
      logger.error('security notice not written', {
        type: event.type,
        user_id: event.userId,
        error: error instanceof Error ? error.message : String(error),
      });
      return [];
    }
  };
}
