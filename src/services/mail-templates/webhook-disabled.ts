import type { MailMessage } from '../../ports/mail.js';
import { plainValue } from './escape.js';
import { renderMail } from './layout.js';

/** Kind `webhook_endpoint_disabled`, to every admin: which endpoint, why, and how to resume. */
export function webhookDisabledMail(input: {
  to: string;
  productName: string;
  endpointId: string;
  url: string;
  reason: string;
  at: Date;
}): MailMessage {
  return renderMail({
    to: input.to,
    productName: input.productName,
    subject: `${input.productName}: a webhook endpoint was disabled`,
    paragraphs: [
      'A webhook endpoint kept failing and was disabled: no more deliveries are attempted, and new events for it wait, pending, until it is enabled again.',
      'Fix the receiver, then enable the endpoint (PATCH /v1/admin/webhooks/{id} with {"enabled": true}, or `npm run cli -- webhooks:enable <id>`) and replay the failed deliveries you need.',
    ],
    facts: [
      ['Endpoint', plainValue(input.endpointId, 64)],
      ['URL', plainValue(input.url, 300)],
      ['Reason', plainValue(input.reason, 200)],
      ['Time', `${input.at.toISOString().slice(0, 16).replace('T', ' ')} UTC`],
    ],
    closing: 'You get this because you are an administrator of this server.',
  });
}
