import type { MasterKeys } from '../lib/crypto.js';
import { HOUR, SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import type { ClaimedMessage, Mailer, OutboxStore } from '../ports/mail.js';
import { unsealMailMessage } from './mail-sealing.js';

export interface DispatchPolicy {
  /** Messages claimed per run. */
  batchSize: number;
  /** How long a claim lasts: longer than a transport's own timeouts, or a slow send is repeated. */
  leaseMs: number;
  /** Attempts before a message is `failed` (the first one included). */
  maxAttempts: number;
  /** Messages sent at once within a run. */
  concurrency?: number;
  /** The backoff: the first retry waits up to `baseDelayMs`, doubling up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface DispatchCounts {
  sent: number;
  retried: number;
  failed: number;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_BASE_DELAY_MS = 30 * SECOND;
const DEFAULT_MAX_DELAY_MS = HOUR;
/** Even a jittered retry waits this long: a failing server is never hammered within a run. */
const MIN_DELAY_MS = SECOND;
const MAX_ERROR_LENGTH = 300;

/**
 * The wait before the retry that follows attempt `attempt` (1 for the first): exponential
 * backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015):
 * a uniform draw in [0, min(cap, base·2^(attempt−1))), so instances that failed together do not
 * retry together. `random` returns [0, 1) (Math.random; tests pass their own).
 */
export function retryDelayMs(
  attempt: number,
  random: () => number,
  options: { baseMs?: number; capMs?: number } = {},
): number {
  const base = options.baseMs ?? DEFAULT_BASE_DELAY_MS;
  const cap = options.capMs ?? DEFAULT_MAX_DELAY_MS;
  // 2^30 already exceeds any cap; the exponent is bounded so the product stays finite.
  const ceiling = Math.min(cap, base * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.max(MIN_DELAY_MS, Math.floor(draw * ceiling));
}

/**
 * What a failure says, for last_error and the log: the error's name, code and message, bounded,
 * with any credentials of a URL in it removed. A transport's error never holds the message's
 * body (where a link is): the SMTP dialogue and the HTTP adapter report statuses only.
 */
export function describeDeliveryError(error: unknown): string {
  if (!(error instanceof Error)) return 'delivery failed';
  const code = (error as { code?: unknown }).code;
  const text = `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  return text.replace(/\/\/[^/\s@]*@/g, '//***@').slice(0, MAX_ERROR_LENGTH);
}

/**
 * One dispatcher run over claimed rows, shared by mail and webhooks: `concurrency` sends at
 * once, none started after half the lease (it could outlast the claim, and another instance
 * would send it too: what is left waits for its claim to expire), and an outcome that could not
 * be recorded is reported to `onError` (the claim expires; the row goes again under its key).
 */
export async function runClaimed<T>(
  claimed: readonly T[],
  deliver: (item: T) => Promise<keyof DispatchCounts>,
  options: {
    claimedAt: number;
    now: () => number;
    leaseMs: number;
    concurrency?: number | undefined;
    onError: (item: T, error: unknown) => void;
  },
): Promise<DispatchCounts & { leftOver: number }> {
  const counts = { sent: 0, retried: 0, failed: 0, leftOver: 0 };
  const queue = [...claimed];
  const tooLate = () => options.now() - options.claimedAt >= options.leaseMs / 2;
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (tooLate()) {
        counts.leftOver += 1 + queue.splice(0).length;
        break;
      }
      try {
        counts[await deliver(next)] += 1;
      } catch (error) {
        options.onError(next, error);
      }
    }
  };
  const workers = Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, claimed.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return counts;
}

export interface DrainOptions {
  maxRuns?: number;
  stop?: () => boolean;
  onRun?: (counts: DispatchCounts) => void;
}

/**
 * Run after run while a run fills its batch, so a backlog drains without waiting for the next
 * tick or Cron: at most `maxRuns`, and none after `stop()` says so (a shutdown).
 */
export async function drainRuns(
  runOnce: () => Promise<DispatchCounts>,
  batchSize: number,
  options: DrainOptions = {},
): Promise<void> {
  for (let run = 0; run < (options.maxRuns ?? 10) && !options.stop?.(); run++) {
    const counts = await runOnce();
    options.onRun?.(counts);
    if (counts.sent + counts.retried + counts.failed < batchSize) return;
  }
}

/**
 * Delivers the outbox (issue #17), at least once: claims the due messages (a lease, so several
 * instances or a Cron trigger can run at once, and a crashed sender's claim expires), opens
 * each, hands it to the transport with its idempotency key, and records the outcome — sent
 * (the body erased), a retry after a backoff, or `failed` after `maxAttempts`.
 * Nothing here logs a body, a link or an address: ids, kinds and transport errors only.
 */
export function createOutboxDispatcher(deps: {
  outbox: OutboxStore;
  mailer: Mailer;
  clock: Clock;
  masterKeys: MasterKeys;
  from: string;
  replyTo?: string | undefined;
  policy: DispatchPolicy;
  random?: () => number;
  logger?: Logger;
}) {
  const { outbox, mailer, clock, masterKeys, from, replyTo, policy } = deps;
  const random = deps.random ?? Math.random;
  const logger = deps.logger ?? silentLogger;
  const backoff = { baseMs: policy.baseDelayMs, capMs: policy.maxDelayMs };

  async function deliver(message: ClaimedMessage): Promise<keyof DispatchCounts> {
    try {
      const mail = await unsealMailMessage(masterKeys, message.id, message.sealed);
      await mailer.send({ ...mail, from, replyTo, idempotencyKey: message.idempotencyKey });
    } catch (error) {
      const reason = describeDeliveryError(error);
      const fields = { id: message.id, kind: message.kind, attempts: message.attempts, error: reason };
      if (message.attempts >= policy.maxAttempts) {
        await outbox.markMessageFailed(message.id, reason, clock.now());
        logger.error('mail failed for good', fields);
        return 'failed';
      }
      const delay = retryDelayMs(message.attempts, random, backoff);
      await outbox.markMessageRetry(message.id, new Date(clock.now().getTime() + delay), reason);
      logger.warn('mail delivery failed, will retry', {
        ...fields,
        retryInSeconds: Math.ceil(delay / SECOND),
      });
      return 'retried';
    }
    await outbox.markMessageSent(message.id, clock.now());
    return 'sent';
  }

  async function runOnce(): Promise<DispatchCounts> {
    const claimedAt = clock.now().getTime();
    const claimed = await outbox.claimDueMessages(new Date(claimedAt), policy.batchSize, policy.leaseMs);
    const { leftOver, ...counts } = await runClaimed(claimed, deliver, {
      claimedAt,
      now: () => clock.now().getTime(),
      leaseMs: policy.leaseMs,
      concurrency: policy.concurrency,
      // The outcome could not be written (the database went away): the claim expires with its
      // lease and the message is tried again, under the same idempotency key.
      onError: (message, error) =>
        logger.error('mail outcome not recorded', {
          id: message.id,
          kind: message.kind,
          error: describeDeliveryError(error),
        }),
    });
    if (leftOver > 0) logger.warn('mail dispatch ran out of lease', { leftOver, leaseMs: policy.leaseMs });
    return counts;
  }

  /** Each run's counts go to `onRun` (metrics, a log line). */
  const drain = (options: DrainOptions = {}) => drainRuns(runOnce, policy.batchSize, options);

  return { runOnce, drain };
}

export type OutboxDispatcher = ReturnType<typeof createOutboxDispatcher>;
