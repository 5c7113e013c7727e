/**
 * A worker that signs one webhook delivery (src/services/webhook-signing.ts, WebCrypto) and
 * sends it with the Workers sender (src/adapters/webhooks/fetch-sender.ts), so the test runs
 * both in workerd itself: no Node API may hide in them.
 */
import { createFetchWebhookSender } from '../../../src/adapters/webhooks/fetch-sender.js';
import { webhookHeaders } from '../../../src/services/webhook-signing.js';

export default {
  async fetch(request: Request): Promise<Response> {
    const { url, secrets, webhookId, body } = (await request.json()) as {
      url: string;
      secrets: string[];
      webhookId: string;
      body: string;
    };
    const headers = await webhookHeaders(secrets, {
      webhookId,
      timestampSeconds: Math.floor(Date.now() / 1000),
      body,
    });
    const sender = createFetchWebhookSender({ allowPrivate: true, userAgent: 'Latchkey-Webhooks/1' });
    const result = await sender.send({
      url,
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      timeoutMs: 5_000,
    });
    return Response.json(result);
  },
};
