import type { WebhookRequest, WebhookResult } from '../../ports/webhooks.js';

/** A receiver's answer is read up to this many bytes by default, then the connection is dropped. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** The longest `error` a sender returns (it is stored with the delivery and shown to operators). */
export const MAX_ERROR_LENGTH = 300;

/**
 * The result of an answered request. Only the status is reported, never the answer's body: a
 * receiver may echo the request, and with it the signature (the same caution as the mail API
 * adapter). A 3xx is a failure: redirects are not followed (issue #18, Safety), or a receiver
 * could send us anywhere the URL policy refuses.
 */
export function answered(status: number, latencyMs: number): WebhookResult {
  if (status >= 200 && status < 300) return { ok: true, status, latencyMs };
  const error =
    status >= 300 && status < 400 ? `answered ${status}: redirect not followed` : `answered ${status}`;
  return { ok: false, status, error, latencyMs };
}

/** A request that got no answer: a refused address, DNS, TLS, a reset, the timeout. */
export function unanswered(error: string, request: WebhookRequest, latencyMs: number): WebhookResult {
  return { ok: false, status: null, error: safeError(error, request), latencyMs };
}

/**
 * Short, printable, and without any request header value or the body: no runtime error should
 * carry them, but one that quotes an invalid header value would carry the signature.
 */
export function safeError(text: string, request: WebhookRequest): string {
  let safe = text;
  const secrets = [...Object.values(request.headers), request.body].filter((value) => value.length >= 8);
  for (const secret of secrets) safe = safe.split(secret).join('[redacted]');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  safe = safe.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (safe === '') safe = 'request failed';
  return safe.length > MAX_ERROR_LENGTH ? `${safe.slice(0, MAX_ERROR_LENGTH - 1)}…` : safe;
}

/** A whole number of milliseconds since `started` (performance.now(): monotonic, unlike Date). */
export const elapsedSince = (started: number) => Math.max(0, Math.round(performance.now() - started));

/** A timeout between 1 ms and 2 minutes: the dispatcher's lease bounds it anyway. */
export const boundedTimeout = (timeoutMs: number) =>
  Number.isFinite(timeoutMs) ? Math.min(Math.max(Math.trunc(timeoutMs), 1), 120_000) : 10_000;
