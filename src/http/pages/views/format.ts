import { UAParser } from 'ua-parser-js';

/**
 * What the account pages say about a session or an event, in words: a readable browser and
 * OS from the user agent (ua-parser-js, maintained), relative times, and event descriptions.
 */

/** "Chrome 131 on Windows 10", "Safari on iOS 18.1", or null when the parser knows nothing. */
export function describeUserAgent(userAgent: string | null): string | null {
  if (!userAgent) return null;
  const { browser, os, device } = new UAParser(userAgent).getResult();
  const major = browser.version?.split('.')[0];
  const browserText = browser.name ? `${browser.name}${major ? ` ${major}` : ''}` : null;
  const osText = os.name ? `${os.name}${os.version ? ` ${os.version}` : ''}` : null;
  const deviceText = device.model && device.type !== undefined ? device.model : null;
  const where = [deviceText, osText].filter(Boolean).join(', ');
  if (browserText && where) return `${browserText} on ${where}`;
  return browserText ?? (where || null);
}

/** What a device is called when it has no name: "iPhone", "Pixel 8", "Windows computer", "Mac"; null if unknown. */
export function describeDevice(userAgent: string | null): string | null {
  if (!userAgent) return null;
  const { os, device } = new UAParser(userAgent).getResult();
  if (device.model && device.type !== undefined) return device.model;
  switch (os.name) {
    case undefined:
      return null;
    case 'Mac OS':
    case 'macOS':
      return 'Mac';
    case 'Chrome OS':
    case 'Chromium OS':
      return 'Chromebook';
    case 'Windows':
    case 'Linux':
    case 'Ubuntu':
    case 'Debian':
    case 'Fedora':
      return `${os.name} computer`;
    default:
      return `${os.name} device`;
  }
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "just now", "5 minutes ago", "in 3 days", relative to `now` (the injected clock's). */
export function relativeTime(at: Date, now: Date): string {
  const seconds = Math.round((at.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 45) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'minute') {
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return 'just now';
}

/** "24 Nov 2026, 14:05 UTC": the absolute time, for the `title` of a relative one. */
export const absoluteTime = (at: Date): string =>
  `${at.toLocaleString('en-GB', {
    timeZone: 'UTC',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  })} UTC`;

const EVENT_TEXT: Record<string, string> = {
  user_registered: 'Account created',
  login_succeeded: 'Signed in',
  mfa_login_succeeded: 'Signed in with a second factor',
  login_failed: 'Failed sign-in attempt',
  login_throttled: 'Sign-in attempts throttled',
  refresh_token_reused: 'A stolen or replayed session token was detected; the session was ended',
  session_revoked: 'A session was signed out',
  sessions_revoked: 'Signed out of other sessions',
  password_changed: 'Password changed',
  password_change_failed: 'Wrong current password entered when changing the password',
  mfa_enabled: 'Two-step verification turned on',
  mfa_disabled: 'Two-step verification turned off',
  mfa_failed: 'Wrong verification code entered',
  mfa_throttled: 'Verification attempts throttled',
  recovery_code_used: 'A recovery code was used',
  recovery_codes_regenerated: 'New recovery codes generated',
  step_up: 'Identity confirmed again',
  session_binding_mismatch: 'A session was used from a different network or browser',
  admin_session_revoked: 'An administrator signed out a session',
  admin_sessions_revoked: 'An administrator signed out every session',
  admin_user_disabled: 'An administrator disabled the account',
  admin_user_enabled: 'An administrator enabled the account',
  admin_mfa_reset: 'An administrator reset two-step verification',
  role_changed: 'Account role changed',
  password_reset_requested: 'A password reset link was sent',
  password_reset: 'Password reset with an email link; every device was signed out',
  name_changed: 'Display name changed',
  account_deleted: 'Account deleted',
  passkey_added: 'Passkey added',
  passkey_removed: 'Passkey removed',
  passkey_clone_suspected: 'A passkey that may have been copied was refused',
};

/** The events a user should look at twice (the Activity page marks them). */
const ALERTS = new Set([
  'refresh_token_reused',
  'login_throttled',
  'mfa_throttled',
  'mfa_disabled',
  'password_changed',
  'password_change_failed',
  'session_binding_mismatch',
  'admin_user_disabled',
  'admin_mfa_reset',
  // A reset the owner did not ask for is worth a second look.
  'password_reset_requested',
  'password_reset',
  // A passkey signs in on its own, and outlives a password reset: one you did not add matters.
  'passkey_added',
  'passkey_clone_suspected',
]);

/** A passkey's RFC 8176 methods (src/services/passkeys.ts, passkeyAmr): `hwk` or `swk`. */
const byPasskey = (details: Record<string, unknown> | null): boolean =>
  Array.isArray(details?.amr) && details.amr.some((method) => method === 'hwk' || method === 'swk');

export function describeEvent(
  type: string,
  details: Record<string, unknown> | null,
): {
  text: string;
  alert: boolean;
} {
  // No sign-in in the history window (a new account's first): no device to compare with, so
  // nothing to look at twice (as the "new device" mail, src/services/security-notifications.ts).
  if (type === 'login_succeeded' && details?.new_device === true && details.first_sign_in !== true)
    return { text: `Signed in${byPasskey(details) ? ' with a passkey' : ''} from a new device`, alert: true };
  if ((type === 'login_succeeded' || type === 'step_up') && byPasskey(details))
    return { text: `${EVENT_TEXT[type]} with a passkey`, alert: false };
  if (type === 'mfa_failed' && details?.method === 'passkey')
    return { text: 'A passkey was not accepted', alert: false };
  return { text: EVENT_TEXT[type] ?? type.replaceAll('_', ' '), alert: ALERTS.has(type) };
}
