import type { MailMessage, MessageKind } from '../../ports/mail.js';
import { plainValue } from './escape.js';
import { renderMail } from './layout.js';
import { named } from './product.js';

/**
 * The security notifications (issue #17 §4): one template each, saying what happened, with
 * the device, place and time, and what to do. They go to the account's address whatever the
 * event's origin (an attacker's request is exactly the one to hear about).
 */

/** Recovery codes left at or under this: the notice says to make new ones. */
export const FEW_RECOVERY_CODES = 3;

export interface NoticeFacts {
  to: string;
  productName: string;
  at: Date;
  ipAddress: string | null;
  userAgent: string | null;
  location: string | null;
  /**
   * The passkey a notice is about, as its owner named it. A fact line, never inside a
   * sentence: the name is whatever was typed, and a mail client may make a link of it.
   */
  passkeyName?: string | null;
}

const when = (at: Date) => `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

function factsOf(input: NoticeFacts): [string, string][] {
  const facts: [string, string][] = [];
  if (input.passkeyName) facts.push(['Passkey', plainValue(input.passkeyName, 64)]);
  facts.push(['Time', when(input.at)]);
  if (input.location) facts.push(['Place', plainValue(input.location, 200)]);
  if (input.ipAddress) facts.push(['IP address', plainValue(input.ipAddress, 64)]);
  if (input.userAgent) facts.push(['Device', plainValue(input.userAgent)]);
  return facts;
}

/** "your Acme account", or "your account" under the default brand name ("Account"). */
const yourAccount = (product: string): string => `your ${named(product)}account`;

const NOT_YOU =
  'If this was not you, change your password at once (or reset it from the sign-in page, "Forgot password?"), sign out the devices you do not know, and turn on two-factor authentication.';

const PASSKEY_NOT_YOU =
  'If this was not you, remove the passkey from the security page of your account at once, change your password, and sign out the devices you do not know.';

interface Notice {
  subject: (product: string) => string;
  paragraphs: (input: NoticeFacts & { remaining?: number }) => string[];
  closing?: string;
}

const NOTICES: Partial<Record<MessageKind, Notice>> = {
  new_device_login: {
    subject: (product) => `New sign-in to ${yourAccount(product)}`,
    paragraphs: (input) => [
      `Your ${named(input.productName)}account ${input.to} was signed in to from a device or place it had not been used from before.`,
    ],
    closing: NOT_YOU,
  },
  unusual_time_login: {
    subject: (product) => `Sign-in to ${yourAccount(product)} at an unusual time`,
    paragraphs: (input) => [
      `Your ${named(input.productName)}account ${input.to} was signed in to at a time of day it is not usually used.`,
    ],
    closing: NOT_YOU,
  },
  mfa_enabled: {
    subject: (product) => `Two-factor authentication is on for ${yourAccount(product)}`,
    paragraphs: (input) => [
      `Two-factor authentication was turned on for ${input.to}. Signing in now needs a code from your authenticator app.`,
      'Keep your recovery codes somewhere safe: they are the way back if you lose the app.',
    ],
  },
  mfa_disabled: {
    subject: (product) => `Two-factor authentication is off for ${yourAccount(product)}`,
    paragraphs: (input) => [
      `Two-factor authentication was turned off for ${input.to}. Signing in now needs only the password.`,
    ],
    closing: `${NOT_YOU.replace(', and turn on two-factor authentication.', '')}, then turn two-factor authentication on again.`,
  },
  recovery_code_used: {
    subject: (product) => `A recovery code was used on ${yourAccount(product)}`,
    paragraphs: (input) => [
      `A recovery code was used to sign in to ${input.to}. Each code works once.`,
      `${input.remaining ?? 0} unused recovery code${input.remaining === 1 ? '' : 's'} left.`,
    ],
    closing: NOT_YOU,
  },
  recovery_codes_low: {
    subject: (product) => `Few recovery codes left on ${yourAccount(product)}`,
    paragraphs: (input) => [
      `A recovery code was used to sign in to ${input.to}, and only ${input.remaining ?? 0} unused code${input.remaining === 1 ? ' is' : 's are'} left.`,
      'Make a new set of recovery codes from the security page of your account, and keep it somewhere safe.',
    ],
    closing: NOT_YOU,
  },
  refresh_token_reused: {
    subject: (product) => `A device of ${yourAccount(product)} was signed out for your safety`,
    paragraphs: (input) => [
      `An old sign-in token of ${input.to} was used again, which happens when a token is stolen and used by someone else. The session it belonged to was ended at once, on every device that shared it.`,
      'You may need to sign in again on that device.',
    ],
    closing: NOT_YOU,
  },
  account_disabled: {
    subject: (product) => `Your ${named(product)}account was disabled`,
    paragraphs: (input) => [
      `An administrator disabled the ${named(input.productName)}account ${input.to}. Every device was signed out, and signing in is refused.`,
    ],
    closing: 'If you think this is a mistake, reply to this message or contact your administrator.',
  },
  // Passkeys (issue #20): each one is a way into the account on its own, so adding one is
  // told as a password change is (an intruder's passkey outlives a password reset).
  passkey_added: {
    subject: (product) => `A passkey was added to ${yourAccount(product)}`,
    paragraphs: (input) => [
      `A passkey was added to ${input.to}. It can now be used to sign in to ${yourAccount(input.productName)}.`,
    ],
    closing: PASSKEY_NOT_YOU,
  },
  passkey_removed: {
    subject: (product) => `A passkey was removed from ${yourAccount(product)}`,
    paragraphs: (input) => [
      `A passkey was removed from ${input.to}. It no longer signs in; the device that holds it may still list it until you delete it there too.`,
    ],
    closing: NOT_YOU,
  },
  passkey_clone_suspected: {
    subject: (product) => `A passkey of ${yourAccount(product)} may have been copied`,
    paragraphs: (input) => [
      `A passkey of ${input.to} was refused: it answered with a signature counter it had used before, which happens when its key has been copied to another device.`,
      'Remove that passkey from the security page of your account, and add a new one from a device you trust.',
    ],
    closing: NOT_YOU,
  },
};

export const NOTICE_KINDS = Object.keys(NOTICES) as MessageKind[];

/** The notice of `kind`, or undefined for a kind that has no security notice here. */
export function securityNotice(
  kind: MessageKind,
  input: NoticeFacts & { remaining?: number },
): MailMessage | undefined {
  const notice = NOTICES[kind];
  if (!notice) return undefined;
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: notice.subject(input.productName),
    paragraphs: notice.paragraphs(input),
    facts: factsOf(input),
    closing: notice.closing ?? NOT_YOU,
  });
}
