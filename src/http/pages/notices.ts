import type { Notice } from './views/layout.js';

/**
 * Messages named in a redirect's `?notice=`: a fixed list, so a link cannot put words on the page.
 * An action of the person's own that did what they asked is `success`; the rest is `info`.
 */
export function noticeOf(query: Record<string, string>): Notice | undefined {
  const n = Number.parseInt(query.n ?? '', 10);
  const count = Number.isSafeInteger(n) && n >= 0 ? n : 0;
  const devices = (k: number) => (k === 1 ? '1 other device' : `${k} other devices`);
  switch (query.notice) {
    case 'ended':
      return { kind: 'info', text: 'Your session has ended. Sign in again to continue.' };
    case 'signed_out':
      return { kind: 'info', text: 'You are signed out.' };
    case 'mfa_restart':
      return { kind: 'error', text: 'That sign-in expired or had too many wrong codes. Sign in again.' };
    case 'revoked':
      return { kind: 'success', text: 'The device was signed out.' };
    case 'gone':
      return { kind: 'info', text: 'That device was already signed out.' };
    case 'others':
      return { kind: 'success', text: `Signed out of ${devices(count)}.` };
    case 'password':
      return {
        kind: 'success',
        text: `Your password was changed${count > 0 ? ` and ${devices(count)} signed out` : ''}.`,
      };
    case 'mfa_off':
      return {
        kind: 'info',
        text: `Two-step verification is off${count > 0 ? `; ${devices(count)} signed out` : ''}.`,
      };
    case 'passkey_added':
      return { kind: 'success', text: 'Passkey added. You can sign in with it from now on.' };
    case 'passkey_renamed':
      return { kind: 'success', text: 'Passkey renamed.' };
    case 'passkey_removed':
      return {
        kind: 'success',
        text: 'Passkey removed: it no longer signs in. Your device or password manager still lists it until you delete it there.',
      };
    case 'passkey_gone':
      return { kind: 'info', text: 'That passkey was already removed.' };
    case 'confirmed':
      return { kind: 'success', text: 'Confirmed. For the next 5 minutes you can add and remove passkeys.' };
    case 'confirmed_email':
      return {
        kind: 'success',
        text: 'Confirmed. For the next 5 minutes you can change your email address without a code.',
      };
    default:
      return undefined;
  }
}
