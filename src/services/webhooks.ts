import type { WebhookConfig } from '../config/webhooks.js';
import { AuthError } from '../domain/errors.js';
import {
  isWebhookEventType,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_TEST_EVENT,
  webhookBody,
} from '../domain/webhook-events.js';
import { checkWebhookUrl } from '../domain/webhook-url.js';
import { decryptString, encryptString, type MasterKeys } from '../lib/crypto.js';
import { SECOND } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import { type Logger, silentLogger } from '../ports/logger.js';
import { NO_ORIGIN, type SecurityEventLog } from '../ports/store.js';
import type {
  ClaimedDelivery,
  DeliveryStatus,
  DeliveryView,
  WebhookEndpointRecord,
  WebhookSender,
  WebhookStore,
} from '../ports/webhooks.js';
import { outboxMessage } from './mail-sealing.js';
import { webhookDisabledMail } from './mail-templates/webhook-disabled.js';
import {
  type DispatchCounts,
  type DrainOptions,
  drainRuns,
  retryDelayMs,
  runClaimed,
} from './outbox-dispatcher.js';
import { newWebhookSecret, webhookHeaders } from './webhook-signing.js';

/**
 * Webhooks (issue #18): endpoints registered by operators, and the delivery of the events the
 * database adapter writes to the outbox with each security event (one row per subscribed
 * endpoint, in the event's transaction). Delivery is at least once, signed per Standard
 * Webhooks, retried with exponential backoff and full jitter until `WEBHOOK_RETRY_FOR`, then
 * `failed`; an endpoint whose deliveries keep failing is disabled and every admin is told.
 */

const sealContext = (endpointId: string) => `webhook-secret:${endpointId}`;
const USER_AGENT = 'Latchkey-Webhooks/1';

export interface WebhookDispatchPolicy {
  batchSize: number;
  leaseMs: number;
  concurrency?: number;
}

export function createWebhooks(deps: {
  store: WebhookStore & Pick<SecurityEventLog, 'recordSecurityEvent'>;
  clock: Clock;
  masterKeys: MasterKeys;
  config: WebhookConfig & { requireHttps: boolean; productName: string };
  sender?: WebhookSender | undefined;
  policy: WebhookDispatchPolicy;
  random?: () => number;
  logger?: Logger;
  /** Metrics: each attempt's outcome and latency. */
  onAttempt?: (outcome: 'delivered' | 'retried' | 'failed', latencyMs: number) => void;
}) {
  const { store, clock, masterKeys, config, policy } = deps;
  const random = deps.random ?? Math.random;
  const logger = deps.logger ?? silentLogger;

  const invalid = (message: string) => new AuthError('invalid_request', message);
  const notFound = () => new AuthError('not_found', 'No webhook endpoint has this id');

  function checkUrl(url: string): string {
    const checked = checkWebhookUrl(url, {
      requireHttps: config.requireHttps && !config.allowPrivate,
      allowPrivate: config.allowPrivate,
    });
    if (!checked.ok) throw invalid(`url: ${checked.reason}`);
    return checked.url.toString();
  }

  function checkTypes(types: string[] | null | undefined): string[] | null {
    if (types === null || types === undefined) return null;
    const unknown = types.filter((type) => !isWebhookEventType(type));
    if (unknown.length > 0)
      throw invalid(
        `event_types: unknown ${unknown.slice(0, 3).join(', ')}; known: ${WEBHOOK_EVENT_TYPES.join(', ')}`,
      );
    return [...new Set(types)].sort();
  }

  const seal = (endpointId: string, secret: string) =>
    encryptString(masterKeys.encryptionKey, secret, sealContext(endpointId));

  /** Registers an endpoint; the secret is returned once, here, and stored only sealed. */
  async function createEndpoint(input: {
    url: string;
    eventTypes?: string[] | null;
    description?: string | null;
  }): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const id = crypto.randomUUID();
    const url = checkUrl(input.url);
    const eventTypes = checkTypes(input.eventTypes);
    const secret = newWebhookSecret();
    const endpoint = await store.createWebhookEndpoint({
      id,
      url,
      description: input.description?.trim() || null,
      eventTypes,
      sealedSecret: await seal(id, secret),
      now: clock.now(),
    });
    logger.info('webhook endpoint created', { endpointId: id, eventTypes: eventTypes ?? 'all' });
    return { endpoint, secret };
  }

  async function getEndpoint(id: string): Promise<WebhookEndpointRecord> {
    const endpoint = await store.findWebhookEndpoint(id);
    if (!endpoint) throw notFound();
    return endpoint;
  }

  async function updateEndpoint(
    id: string,
    patch: { url?: string; eventTypes?: string[] | null; description?: string | null; enabled?: boolean },
  ): Promise<WebhookEndpointRecord> {
    const updated = await store.updateWebhookEndpoint(
      id,
      {
        ...(patch.url !== undefined ? { url: checkUrl(patch.url) } : {}),
        ...(patch.eventTypes !== undefined ? { eventTypes: checkTypes(patch.eventTypes) } : {}),
        ...(patch.description !== undefined ? { description: patch.description?.trim() || null } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      },
      clock.now(),
    );
    if (!updated) throw notFound();
    return updated;
  }

  async function deleteEndpoint(id: string): Promise<void> {
    if (!(await store.deleteWebhookEndpoint(id))) throw notFound();
  }

  /** A new secret signs from now; the old one too until WEBHOOK_SECRET_OVERLAP has passed. */
  async function rotateSecret(id: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const now = clock.now();
    const secret = newWebhookSecret();
    const endpoint = await store.rotateWebhookSecret(id, {
      sealedSecret: await seal(id, secret),
      previousUntil: new Date(now.getTime() + config.secretOverlapMs),
      now,
    });
    if (!endpoint) throw notFound();
    return { endpoint, secret };
  }

  /** "Send a test event": a `webhook.test` delivery to this endpoint only. */
  async function sendTest(id: string): Promise<{ deliveryId: string }> {
    const now = clock.now();
    const body = webhookBody({ type: WEBHOOK_TEST_EVENT, data: { endpoint_id: id } }, now);
    const deliveryId = await store.enqueueWebhookDelivery({
      endpointId: id,
      type: WEBHOOK_TEST_EVENT,
      body,
      now,
    });
    if (!deliveryId) throw notFound();
    return { deliveryId };
  }

  async function deliveries(
    id: string,
    query: { status?: DeliveryStatus; limit: number; before?: { at: Date; id: string } },
  ): Promise<DeliveryView[]> {
    await getEndpoint(id);
    return store.listDeliveries(id, query);
  }

  async function replay(deliveryId: string): Promise<void> {
    const outcome = await store.replayDelivery(deliveryId, clock.now());
    if (outcome === 'not_found') throw new AuthError('not_found', 'No webhook delivery has this id');
    if (outcome === 'not_failed')
      throw new AuthError('delivery_not_replayable', 'Only a failed delivery can be replayed');
  }

  // ---- delivery ----------------------------------------------------------------------------

  async function secretsOf(delivery: ClaimedDelivery, now: Date): Promise<string[]> {
    const { endpoint } = delivery;
    const open = (sealed: string) =>
      decryptString(masterKeys.encryptionKey, sealed, sealContext(endpoint.id));
    const secrets = [await open(endpoint.sealedSecret)];
    if (
      endpoint.sealedPreviousSecret &&
      endpoint.previousSecretExpiresAt &&
      endpoint.previousSecretExpiresAt > now
    )
      secrets.push(await open(endpoint.sealedPreviousSecret));
    return secrets;
  }

  /** Every admin hears that an endpoint was disabled: an event on their log and a mail, one transaction each. */
  async function tellAdmins(endpoint: WebhookEndpointRecord, now: Date): Promise<void> {
    const admins = await store.webhookAdmins();
    for (const admin of admins) {
      const mail = await outboxMessage(masterKeys, {
        kind: 'webhook_endpoint_disabled',
        userId: admin.id,
        message: webhookDisabledMail({
          to: admin.email,
          productName: config.productName,
          endpointId: endpoint.id,
          url: endpoint.url,
          reason: endpoint.disabledReason ?? 'failing',
          at: now,
        }),
        now,
      });
      await store.recordSecurityEvent(
        {
          userId: admin.id,
          type: 'webhook_endpoint_disabled',
          ...NO_ORIGIN,
          details: { endpoint_id: endpoint.id, reason: endpoint.disabledReason },
          at: now,
        },
        [mail],
      );
    }
    logger.error('webhook endpoint disabled', {
      endpointId: endpoint.id,
      reason: endpoint.disabledReason,
      adminsTold: admins.length,
    });
  }

  async function deliver(delivery: ClaimedDelivery): Promise<keyof DispatchCounts> {
    const sender = deps.sender;
    if (!sender) throw new Error('no webhook sender');
    const now = clock.now();
    const headers = await webhookHeaders(await secretsOf(delivery, now), {
      webhookId: delivery.webhookId,
      timestampSeconds: Math.floor(now.getTime() / 1000),
      body: delivery.body,
    });
    const result = await sender.send({
      url: delivery.endpoint.url,
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': USER_AGENT },
      body: delivery.body,
      timeoutMs: config.timeoutMs,
    });
    const fields = {
      deliveryId: delivery.id,
      endpointId: delivery.endpoint.id,
      type: delivery.type,
      attempts: delivery.attempts,
      status: result.status,
      latencyMs: Math.round(result.latencyMs),
    };
    if (result.ok) {
      await store.markDeliverySent(delivery.id, result.status, clock.now());
      deps.onAttempt?.('delivered', result.latencyMs);
      return 'sent';
    }
    const delay = retryDelayMs(delivery.attempts, random);
    const retryAt = new Date(clock.now().getTime() + delay);
    // Retried while it is younger than WEBHOOK_RETRY_FOR ("about a day"), then failed.
    if (retryAt.getTime() - delivery.createdAt.getTime() > config.retryForMs) {
      const { endpointDisabled } = await store.markDeliveryFailed(delivery.id, {
        error: result.error,
        status: result.status,
        now: clock.now(),
        disableAfter: config.disableAfter,
      });
      deps.onAttempt?.('failed', result.latencyMs);
      logger.warn('webhook delivery failed for good', { ...fields, error: result.error });
      if (endpointDisabled) await tellAdmins(endpointDisabled, clock.now());
      return 'failed';
    }
    await store.markDeliveryRetry(delivery.id, { at: retryAt, error: result.error, status: result.status });
    deps.onAttempt?.('retried', result.latencyMs);
    logger.warn('webhook delivery failed, will retry', {
      ...fields,
      error: result.error,
      retryInSeconds: Math.ceil(delay / SECOND),
    });
    return 'retried';
  }

  /** One run: claims the due deliveries and sends them, as the mail's dispatcher does (runClaimed). */
  async function runOnce(): Promise<DispatchCounts> {
    const claimedAt = clock.now().getTime();
    const claimed = await store.claimDueDeliveries(new Date(claimedAt), policy.batchSize, policy.leaseMs);
    const { leftOver, ...counts } = await runClaimed(claimed, deliver, {
      claimedAt,
      now: () => clock.now().getTime(),
      leaseMs: policy.leaseMs,
      concurrency: policy.concurrency,
      // Not recorded (the database went away): the claim expires and the delivery is tried
      // again, under the same webhook-id.
      onError: (delivery, error) =>
        logger.error('webhook outcome not recorded', {
          deliveryId: delivery.id,
          error: error instanceof Error ? error.name : 'error',
        }),
    });
    if (leftOver > 0) logger.warn('webhook dispatch ran out of lease', { leftOver, leaseMs: policy.leaseMs });
    return counts;
  }

  const drain = (options: DrainOptions = {}) => drainRuns(runOnce, policy.batchSize, options);

  return {
    createEndpoint,
    listEndpoints: () => store.listWebhookEndpoints(),
    getEndpoint,
    updateEndpoint,
    deleteEndpoint,
    rotateSecret,
    sendTest,
    deliveries,
    replay,
    stats: () => store.webhookStats(clock.now()),
    dispatcher: deps.sender ? { runOnce, drain } : undefined,
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
