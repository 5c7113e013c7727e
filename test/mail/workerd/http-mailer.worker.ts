/**
 * A worker that only sends one message through the HTTPS mail transport (src/adapters/mail/http.ts),
 * so the test runs that adapter in workerd itself: no Node API may hide in it.
 */
import { createHttpMailer } from '../../../src/adapters/mail/http.js';
import type { OutgoingMail } from '../../../src/ports/mail.js';

export default {
  async fetch(request: Request): Promise<Response> {
    const { url, token, mail } = (await request.json()) as {
      url: string;
      token?: string;
      mail: OutgoingMail;
    };
    try {
      await createHttpMailer({ url, token, timeoutMs: 5_000 }).send(mail);
      return Response.json({ ok: true });
    } catch (error) {
      return Response.json({ ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  },
};
