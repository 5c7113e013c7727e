import { z } from 'zod';
import { integer, seconds } from './fields.js';

/**
 * Webhooks (issue #18): where deliveries may go, how long a receiver gets, how long a delivery
 * is retried, when a failing endpoint is disabled, and how long a rotated secret still signs.
 */
export const WebhookEnvSchema = {
  /** Development and tests only: allow http:// and private, loopback and link-local targets. */
  WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  /** Seconds a receiver has to answer (connect included). */
  WEBHOOK_TIMEOUT: seconds(10, 1),
  /** A delivery is retried (exponential backoff, full jitter) until it is this old, then `failed`. */
  WEBHOOK_RETRY_FOR: seconds(24 * 3600, 60),
  /** Deliveries failed for good in a row before the endpoint is disabled (and the admins told). */
  WEBHOOK_DISABLE_AFTER: integer(20, 1, 10_000),
  /** After a secret rotation, the old secret also signs this long (both signatures are sent). */
  WEBHOOK_SECRET_OVERLAP: seconds(24 * 3600, 0),
};

export interface WebhookConfig {
  allowPrivate: boolean;
  timeoutMs: number;
  retryForMs: number;
  disableAfter: number;
  secretOverlapMs: number;
}

type WebhookEnv = z.output<z.ZodObject<typeof WebhookEnvSchema>>;

/** Rules across variables, on the raw strings (reported with every other problem). */
export function webhookCrossChecks(raw: Record<string, string>): string[] {
  // Private targets are an SSRF hole in production: refused there (OWASP SSRF Prevention).
  return raw.NODE_ENV === 'production' && raw.WEBHOOK_ALLOW_PRIVATE === 'true'
    ? ['WEBHOOK_ALLOW_PRIVATE: not allowed in production']
    : [];
}

export function webhookConfig(e: WebhookEnv): WebhookConfig {
  return {
    allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === 'true',
    timeoutMs: e.WEBHOOK_TIMEOUT * 1000,
    retryForMs: e.WEBHOOK_RETRY_FOR * 1000,
    disableAfter: e.WEBHOOK_DISABLE_AFTER,
    secretOverlapMs: e.WEBHOOK_SECRET_OVERLAP * 1000,
  };
}
