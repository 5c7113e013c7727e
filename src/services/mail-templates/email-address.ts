import type { MailMessage } from '../../ports/mail.js';
import { plainValue } from './escape.js';
import { renderMail } from './layout.js';
import { isDefaultProductName, named } from './product.js';

/**
 * The messages about the address itself (issue #17, flows 2 and 3): verify it, confirm a new
 * one, and tell the old one of a change with the "this wasn't me" link.
 */

const hours = (seconds: number) => Math.max(1, Math.round(seconds / 3600));
const utc = (at: Date) => `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Kind `verify_email`: sent with a new account, and on request. */
export function verifyEmailMail(input: {
  to: string;
  productName: string;
  link: string;
  ttlSeconds: number;
}): MailMessage {
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `Confirm your ${named(input.productName)}address`,
    paragraphs: [
      `Confirm that ${input.to} is the address of your ${named(input.productName)}account.`,
      `The link below works once, for ${hours(input.ttlSeconds)} hours. A newer request replaces it.`,
    ],
    action: { label: 'Confirm this address', url: input.link },
    closing: 'If you did not create an account, ignore this message: nothing happens without the link.',
  });
}

/** Kind `confirm_email_change`, to the NEW address: the change happens only through this link. */
export function confirmEmailChangeMail(input: {
  to: string;
  productName: string;
  link: string;
  ttlSeconds: number;
}): MailMessage {
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `Confirm your new ${named(input.productName)}address`,
    paragraphs: [
      `Someone asked to make ${input.to} the address of ${isDefaultProductName(input.productName) ? 'an' : 'a'} ${named(input.productName)}account.`,
      `Nothing changes until the link below is used. It works once, for ${hours(input.ttlSeconds)} hours.`,
    ],
    action: { label: 'Confirm the new address', url: input.link },
    closing: 'If you did not ask for this, ignore this message: the account keeps its address.',
  });
}

/**
 * Kind `email_change_notice`, to the CURRENT address when a change is asked for: to whom, from
 * where, and the "this wasn't me" link that puts the address back and signs everybody out.
 */
export function emailChangeNoticeMail(input: {
  to: string;
  productName: string;
  newEmail: string;
  revertLink: string;
  revertTtlSeconds: number;
  at: Date;
  ipAddress: string | null;
  userAgent: string | null;
}): MailMessage {
  const facts: [string, string][] = [
    ['New address', plainValue(input.newEmail, 320)],
    ['Time', utc(input.at)],
  ];
  if (input.ipAddress) facts.push(['IP address', plainValue(input.ipAddress, 64)]);
  if (input.userAgent) facts.push(['Device', plainValue(input.userAgent)]);
  const days = Math.max(1, Math.round(input.revertTtlSeconds / 86_400));
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `Your ${named(input.productName)}address is being changed`,
    paragraphs: [
      `Someone signed in to the ${named(input.productName)}account for ${input.to} asked to change its address. The change happens when the new address confirms it.`,
      `If this was not you, use the link below (for ${days} days, even after the change): it keeps or puts back this address and signs out every device. Then choose a new password with "Forgot password?".`,
    ],
    action: { label: "This wasn't me", url: input.revertLink },
    facts,
    closing: 'If this was you, there is nothing to do.',
  });
}

/** Kind `email_changed`, to the OLD address when the change was confirmed. */
export function emailChangedMail(input: {
  to: string;
  productName: string;
  newEmail: string;
  at: Date;
}): MailMessage {
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `Your ${named(input.productName)}address was changed`,
    paragraphs: [
      `The ${named(input.productName)}account that used ${input.to} now signs in with a new address.`,
      'If this was not you, use the "This wasn\'t me" link of the message we sent when the change was asked for: it puts this address back and signs out every device.',
    ],
    facts: [
      ['New address', plainValue(input.newEmail, 320)],
      ['Time', utc(input.at)],
    ],
    closing: 'If this was you, there is nothing to do.',
  });
}
