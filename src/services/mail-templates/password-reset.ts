import type { MailMessage } from '../../ports/mail.js';
import { renderMail } from './layout.js';
import { named } from './product.js';

/**
 * Where a link of a message points: the configured template (the account pages by default, or
 * an app's URL or deep link) with `{token}` replaced by the token, URL-encoded.
 */
export const linkWithToken = (template: string, token: string): string =>
  template.replaceAll('{token}', encodeURIComponent(token));

/** The "reset your password" mail (kind `password_reset`): the link and how long it works. */
export function passwordResetMail(input: {
  to: string;
  productName: string;
  link: string;
  ttlSeconds: number;
}): MailMessage {
  const minutes = Math.round(input.ttlSeconds / 60);
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `Reset your ${named(input.productName)}password`,
    paragraphs: [
      `Someone asked to reset the password of the ${named(input.productName)}account for ${input.to}.`,
      `The link below works once, for ${minutes} minutes. A newer request replaces it.`,
    ],
    action: { label: 'Choose a new password', url: input.link },
    closing:
      'If you did not ask for this, ignore this message: your password stays as it is, and nobody can use the link without this mailbox.',
  });
}
