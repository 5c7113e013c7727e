/**
 * The webhook event catalogue (issue #18) and how a security event becomes one. One home: the
 * database adapter writes the deliveries of an event with the event itself (one statement, one
 * transaction), the admin API validates subscriptions against this list, and docs/webhooks.md's
 * catalogue is tested against it.
 *
 * A payload carries ids and facts, never a token, password, code or secret (Standard Webhooks:
 * `{type, timestamp, data}`).
 */
export const WEBHOOK_EVENT_TYPES = [
  'user.created',
  'user.email_verified',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'session.created',
  'session.revoked',
  'refresh_token.reused',
  'mfa.enabled',
  'mfa.disabled',
  'passkey.added',
  'passkey.removed',
  'passkey.clone_suspected',
  'password.changed',
  'password.reset',
  'login.throttled',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Sent only to the endpoint an operator tests ("send a test event"); never subscribed to. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';

export const isWebhookEventType = (value: string): value is WebhookEventType =>
  (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);

/** What the mapping reads of a security event (the shape of the store's SecurityEvent). */
export interface EventFacts {
  userId: string;
  sessionId?: string | null;
  type: string;
  ipAddress?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown> | undefined;
  at: Date;
}

export interface WebhookEvent {
  type: WebhookEventType;
  data: Record<string, unknown>;
}

/** Only these detail fields ever leave: facts, not secrets (an allow-list, so a new field is not leaked by default). */
const pick = (details: Record<string, unknown> | undefined, keys: readonly string[]) =>
  Object.fromEntries(keys.flatMap((key) => (details?.[key] === undefined ? [] : [[key, details[key]]])));

/** Who did it, when not the user: an admin (with their id) or an operator (the CLI). */
const actor = (details: Record<string, unknown> | undefined) =>
  details?.admin_id
    ? { by: 'admin', admin_id: details.admin_id }
    : details?.via === 'cli'
      ? { by: 'operator' }
      : {};

/** The revocation reason of a session event, in the words of the sessions' `revoked_reason`. */
function revokeReason(type: string, details: Record<string, unknown> | undefined): string {
  if (type.startsWith('admin_')) return 'revoked_by_admin';
  if (details?.via === 'cli') return 'revoked_by_operator';
  if (details?.via === 'session_limit' || details?.via === 'oauth_revoke' || details?.via === 'logout')
    return String(details.via);
  return type === 'sessions_revoked' ? 'revoke_all' : 'revoked_by_user';
}

/** The webhook event a security event makes, if any. */
export function webhookEventOf(event: EventFacts): WebhookEvent | undefined {
  const user = { user_id: event.userId };
  const device = {
    session_id: event.sessionId ?? null,
    ip_address: event.ipAddress ?? null,
    user_agent: event.userAgent ?? null,
  };
  const d = event.details;
  switch (event.type) {
    case 'user_registered':
      return { type: 'user.created', data: { ...user, ...pick(d, ['email']) } };
    case 'email_verified':
      return { type: 'user.email_verified', data: user };
    case 'name_changed':
      return { type: 'user.updated', data: { ...user, changed: ['name'] } };
    case 'email_changed':
      return { type: 'user.updated', data: { ...user, changed: ['email'], email: d?.to ?? null } };
    case 'email_change_reverted':
      return {
        type: 'user.updated',
        data: { ...user, changed: ['email'], email: d?.email ?? null, reverted: true },
      };
    case 'admin_user_disabled':
      return { type: 'user.disabled', data: { ...user, ...actor(d) } };
    case 'admin_user_enabled':
      return { type: 'user.enabled', data: { ...user, ...actor(d) } };
    case 'account_deleted':
      return { type: 'user.deleted', data: user };
    case 'login_succeeded':
      return {
        type: 'session.created',
        data: {
          ...user,
          ...device,
          ...pick(d, [
            'client_id',
            // How the user signed in (RFC 8176): a password, a second factor, a passkey.
            'amr',
            'device_name',
            'location',
            'country',
            'new_device',
            'new_location',
          ]),
        },
      };
    case 'session_revoked':
    case 'admin_session_revoked':
      return {
        type: 'session.revoked',
        data: {
          ...user,
          session_id: event.sessionId ?? null,
          reason: revokeReason(event.type, d),
          ...actor(d),
        },
      };
    case 'sessions_revoked':
    case 'admin_sessions_revoked':
      return {
        type: 'session.revoked',
        data: {
          ...user,
          session_id: null,
          all: true,
          reason: d?.via ?? event.type,
          ...pick(d, ['count']),
          ...actor(d),
        },
      };
    case 'refresh_token_reused':
      return { type: 'refresh_token.reused', data: { ...user, ...device } };
    case 'mfa_enabled':
      return { type: 'mfa.enabled', data: { ...user, ...pick(d, ['method']) } };
    case 'mfa_disabled':
    case 'admin_mfa_reset':
      return { type: 'mfa.disabled', data: { ...user, ...actor(d) } };
    case 'passkey_added':
      return {
        type: 'passkey.added',
        data: {
          ...user,
          session_id: event.sessionId ?? null,
          ...pick(d, ['passkey_id', 'name', 'device_type']),
        },
      };
    case 'passkey_removed':
      return {
        type: 'passkey.removed',
        data: { ...user, session_id: event.sessionId ?? null, ...pick(d, ['passkey_id', 'name']) },
      };
    case 'passkey_clone_suspected':
      // A valid signature whose counter went backwards: refused (W3C WebAuthn §6.1.1).
      return {
        type: 'passkey.clone_suspected',
        data: { ...user, ...pick(d, ['passkey_id', 'name', 'stored_count', 'seen_count']) },
      };
    case 'password_changed':
      return { type: 'password.changed', data: { ...user, ...pick(d, ['revoked_sessions']) } };
    case 'password_reset':
      return { type: 'password.reset', data: { ...user, ...pick(d, ['revoked_sessions']) } };
    case 'login_throttled':
      return {
        type: 'login.throttled',
        data: { ...user, ip_address: event.ipAddress ?? null, ...pick(d, ['retry_after']) },
      };
    default:
      return undefined;
  }
}

/** The body a receiver gets (Standard Webhooks: type, timestamp, data). */
export const webhookBody = (event: { type: string; data: Record<string, unknown> }, at: Date): string =>
  JSON.stringify({ type: event.type, timestamp: at.toISOString(), data: event.data });
