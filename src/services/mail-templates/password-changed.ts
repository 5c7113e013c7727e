import type { MailMessage } from '../../ports/mail.js';
import { plainValue } from './escape.js';
import { renderMail } from './layout.js';
import { named } from './product.js';

/**
 * "Your password was changed" (kind `password_changed`): when, from where, what it did to the
 * sessions, and what to do if it was not the owner.
 */
export function passwordChangedMail(input: {
  to: string;
  productName: string;
  /** How the password was changed: with a reset link, or from a signed-in session. */
  how: 'reset' | 'change';
  at: Date;
  ipAddress: string | null;
  userAgent: string | null;
}): MailMessage {
  const facts: [string, string][] = [
    ['Time', `${input.at.toISOString().slice(0, 16).replace('T', ' ')} UTC`],
  ];
  if (input.ipAddress) facts.push(['IP address', plainValue(input.ipAddress, 64)]);
  if (input.userAgent) facts.push(['Device', plainValue(input.userAgent)]);
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `Your ${named(input.productName)}password was changed`,
    paragraphs: [
      input.how === 'reset'
        ? `The password of the ${named(input.productName)}account for ${input.to} was reset with a link sent to this address.`
        : `The password of the ${named(input.productName)}account for ${input.to} was changed.`,
      input.how === 'reset'
        ? 'Every device signed in to the account was signed out.'
        : 'Every other device signed in to the account was signed out.',
    ],
    facts,
    closing:
      'If this was not you, reset your password at once from the sign-in page ("Forgot password?"), and check the recent activity of your account.',
  });
}
