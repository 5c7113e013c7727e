import { checkWebhookUrl } from '../../domain/webhook-url.js';
import type { WebhookRequest, WebhookResult, WebhookSender } from '../../ports/webhooks.js';
import { answered, boundedTimeout, DEFAULT_MAX_RESPONSE_BYTES, elapsedSince, unanswered } from './result.js';

/**
 * Webhooks through `fetch` (issue #18), for Workers (Cron-driven delivery): runs on workerd
 * and Node alike. `redirect: 'manual'` (workerd has no 'error'): a 3xx is the answer, a
 * failure, never followed. One AbortSignal covers the request and the reading of the body;
 * the body is read up to `maxResponseBytes` and the rest cancelled. The answer counts once its
 * status has arrived.
 *
 * The address check is on the URL's literal host only (`checkWebhookUrl`: IP literals and
 * local names): `fetch` resolves the name itself and tells us neither the address nor lets us
 * choose it, so a name that resolves to an inside address is not refused here. On Workers the
 * request leaves from Cloudflare's network, not from the operator's; on Node, use the node
 * sender, which checks every resolved address at connect time.
 */
export function createFetchWebhookSender(options: {
  fetch?: typeof fetch;
  maxResponseBytes?: number;
  userAgent: string;
  /** Development and tests: loopback and private literal hosts allowed. */
  allowPrivate?: boolean;
}): WebhookSender {
  const send = options.fetch ?? fetch;
  const maxResponseBytes = Math.max(0, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  const allowPrivate = options.allowPrivate ?? false;

  return {
    async send(request: WebhookRequest): Promise<WebhookResult> {
      const started = performance.now();
      const checked = checkWebhookUrl(request.url, { requireHttps: false, allowPrivate });
      if (!checked.ok) return unanswered(checked.reason, request, elapsedSince(started));
      const timeoutMs = boundedTimeout(request.timeoutMs);
      const signal = AbortSignal.timeout(timeoutMs);

      let response: Response;
      try {
        const headers = new Headers({ 'user-agent': options.userAgent });
        for (const [name, value] of Object.entries(request.headers)) headers.set(name, value);
        response = await send(checked.url.href, {
          method: 'POST',
          headers,
          body: request.body,
          redirect: 'manual',
          signal,
        });
      } catch (error) {
        const message = signal.aborted ? `timeout after ${timeoutMs} ms` : describeFetchError(error);
        return unanswered(message, request, elapsedSince(started));
      }

      // A browser-style opaque redirect has status 0; workerd and undici give the real 3xx.
      if (response.type === 'opaqueredirect')
        return { ok: false, status: null, error: 'redirect not followed', latencyMs: elapsedSince(started) };
      await readCapped(response, maxResponseBytes);
      return answered(response.status, elapsedSince(started));
    },
  };
}

/** Reads up to `max` bytes and cancels the rest; a body that fails or times out mid-way is ignored. */
async function readCapped(response: Response, max: number): Promise<void> {
  const body = response.body;
  if (!body) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read < max) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += chunk.value.byteLength;
    }
    await reader.cancel();
  } catch {
    await reader.cancel().catch(() => {});
  }
}

/** undici's "fetch failed" hides the reason in `cause` (ECONNREFUSED, a certificate error…). */
function describeFetchError(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } } | undefined;
  const cause = e?.cause;
  if (cause?.code === 'ERR_INVALID_CHAR' || cause?.code === 'ERR_HTTP_INVALID_HEADER_VALUE')
    return 'invalid request header';
  if (e instanceof TypeError && /header/i.test(e.message)) return 'invalid request header';
  if (cause?.message) return `${e?.message ?? 'fetch failed'}: ${cause.message}`;
  return e?.message ?? String(error);
}
