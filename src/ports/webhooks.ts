/**
 * Webhooks (issue #18): how a signed delivery leaves the process. The Node adapter connects only
 * to addresses that pass the URL policy at connect time (DNS rebinding cannot reach the inside);
 * the Workers adapter uses `fetch`. Neither follows redirects, and both read at most a capped
 * amount of the answer.
 */
export interface WebhookRequest {
  url: string;
  /** Content-Type, the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`), User-Agent. */
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export type WebhookResult =
  /** The receiver answered 2xx. */
  | { ok: true; status: number; latencyMs: number }
  /**
   * Anything else: a non-2xx status (a 3xx included: redirects are not followed), a refused
   * address, a DNS failure, a timeout, a reset. `error` is short and safe to store and show
   * (no body beyond a bounded excerpt, no secret).
   */
  | { ok: false; status: number | null; error: string; latencyMs: number };

export interface WebhookSender {
  send(request: WebhookRequest): Promise<WebhookResult>;
}

/** An endpoint as operators see it: never its secrets. */
export interface WebhookEndpointRecord {
  id: string;
  url: string;
  description: string | null;
  /** The event types it wants; null: every type. */
  eventTypes: string[] | null;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  consecutiveFailures: number;
  lastSuccessAt: Date | null;
  disabledAt: Date | null;
  disabledReason: string | null;
  /** Until when the previous secret still signs (after a rotation); null: none. */
  previousSecretExpiresAt: Date | null;
}

export interface NewWebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[] | null;
  /** Sealed with the master key. */
  sealedSecret: string;
  now: Date;
}

/** A delivery the dispatcher claimed, with what it needs to sign and send it. */
export interface ClaimedDelivery {
  id: string;
  type: string;
  /** `webhook-id`: the same on every attempt. */
  webhookId: string;
  body: string;
  /** Attempts so far, this one included. */
  attempts: number;
  createdAt: Date;
  endpoint: {
    id: string;
    url: string;
    sealedSecret: string;
    sealedPreviousSecret: string | null;
    previousSecretExpiresAt: Date | null;
  };
}

export type DeliveryStatus = 'pending' | 'sent' | 'failed';

/** A delivery in an endpoint's log. */
export interface DeliveryView {
  id: string;
  endpointId: string;
  type: string;
  webhookId: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  sentAt: Date | null;
}

/** Webhook endpoints and their deliveries (rows of the outbox with an endpoint). */
export interface WebhookStore {
  createWebhookEndpoint(endpoint: NewWebhookEndpoint): Promise<WebhookEndpointRecord>;
  listWebhookEndpoints(): Promise<WebhookEndpointRecord[]>;
  findWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | undefined>;
  /** Enabling again starts the failure count over and clears the disable. */
  updateWebhookEndpoint(
    id: string,
    patch: { url?: string; description?: string | null; eventTypes?: string[] | null; enabled?: boolean },
    now: Date,
  ): Promise<WebhookEndpointRecord | undefined>;
  deleteWebhookEndpoint(id: string): Promise<boolean>;
  /** The current secret becomes the previous one (valid until `previousUntil`); `sealedSecret` signs from now. */
  rotateWebhookSecret(
    id: string,
    input: { sealedSecret: string; previousUntil: Date; now: Date },
  ): Promise<WebhookEndpointRecord | undefined>;
  /** One delivery to one endpoint (a test event); undefined when the endpoint does not exist. */
  enqueueWebhookDelivery(input: {
    endpointId: string;
    type: string;
    body: string;
    now: Date;
  }): Promise<string | undefined>;
  /**
   * Claims up to `limit` due deliveries of enabled endpoints for `leaseMs` (FOR UPDATE SKIP
   * LOCKED, as the mail's claim): a crashed sender's claim expires with its lease.
   */
  claimDueDeliveries(now: Date, limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /** Sent: the endpoint's failure count starts over. Pending rows only. */
  markDeliverySent(id: string, status: number, now: Date): Promise<void>;
  markDeliveryRetry(id: string, input: { at: Date; error: string; status: number | null }): Promise<void>;
  /**
   * Failed for good, in one transaction: the endpoint's failure count goes up, and at
   * `disableAfter` the endpoint is disabled. Says whether this call disabled it.
   */
  markDeliveryFailed(
    id: string,
    input: { error: string; status: number | null; now: Date; disableAfter: number },
  ): Promise<{ endpointDisabled: WebhookEndpointRecord | undefined }>;
  /** An endpoint's deliveries, newest first, keyset paged. */
  listDeliveries(
    endpointId: string,
    query: { status?: DeliveryStatus; limit: number; before?: { at: Date; id: string } },
  ): Promise<DeliveryView[]>;
  /** A failed delivery back to pending, due now, attempts from zero; one conditional UPDATE. */
  replayDelivery(id: string, now: Date): Promise<'replayed' | 'not_found' | 'not_failed'>;
  /** The admins to tell when an endpoint is disabled. */
  webhookAdmins(): Promise<{ id: string; email: string }[]>;
  webhookStats(now: Date): Promise<{ pending: number; failed: number; oldestPendingAgeSeconds: number }>;
}
