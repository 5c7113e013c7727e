import { AuthError } from '../../domain/errors.js';
import { webhookDeliveryJson, webhookEndpointJson } from '../../http/routes/admin-webhooks.js';
import type { DeliveryStatus, DeliveryView, WebhookEndpointRecord } from '../../ports/webhooks.js';
import { deliveryPage } from '../../services/webhook-review.js';
import type { Webhooks } from '../../services/webhooks.js';
import { CliError, formatTable, printable, terminalSafeJson, truncate, type Writer } from './output.js';

/**
 * Webhook endpoints for operators (issue #18, Operators), through the same service as
 * /v1/admin/webhooks: its URL policy, its event catalogue. A secret is printed by
 * `webhooks:add` and `webhooks:rotate` only, once, when it is made; nothing prints it again.
 * Ids were checked to be UUIDs by the command line (args.ts).
 */

export interface WebhookCommandDeps {
  webhooks: Pick<
    Webhooks,
    | 'createEndpoint'
    | 'listEndpoints'
    | 'updateEndpoint'
    | 'deleteEndpoint'
    | 'rotateSecret'
    | 'sendTest'
    | 'deliveries'
    | 'replay'
  >;
  out: Writer;
}

/** The service's refusals (a URL the policy refuses, an unknown id) as the command's failure, status 1. */
async function refusedAsCliError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AuthError) throw new CliError(error.description);
    throw error;
  }
}

const time = (at: Date | null) => at?.toISOString() ?? '-';
/** Operator-supplied or receiver-supplied text: shown, but never allowed to drive the terminal. */
const shown = (text: string | null, max: number) => (text ? truncate(printable(text), max) : '-');

function printSecret(deps: WebhookCommandDeps, endpoint: WebhookEndpointRecord, secret: string) {
  deps.out(`id      ${endpoint.id}`);
  deps.out(`secret  ${secret}`);
  deps.out('The secret is shown this once: configure the receiver with it now (no command prints it again).');
}

/** `webhooks:add`: registers an endpoint; prints its id and its signing secret, once. */
export async function addWebhookCommand(
  deps: WebhookCommandDeps,
  input: { url: string; eventTypes: string[] | null; description: string | null },
): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
  const created = await refusedAsCliError(() => deps.webhooks.createEndpoint(input));
  printSecret(deps, created.endpoint, created.secret);
  return created;
}

/** `webhooks:list`: every endpoint, as a table or (`--json`) as GET /v1/admin/webhooks answers. Never a secret. */
export async function listWebhooksCommand(
  deps: WebhookCommandDeps,
  input: { json: boolean },
): Promise<WebhookEndpointRecord[]> {
  const endpoints = await deps.webhooks.listEndpoints();
  if (input.json) {
    deps.out(terminalSafeJson({ endpoints: endpoints.map(webhookEndpointJson) }));
    return endpoints;
  }
  if (endpoints.length === 0) {
    deps.out('no webhook endpoints');
    return endpoints;
  }
  deps.out(
    formatTable(
      ['ID', 'ENABLED', 'URL', 'EVENTS', 'FAILURES', 'LAST SUCCESS', 'DESCRIPTION'],
      endpoints.map((endpoint) => [
        endpoint.id,
        endpoint.enabled ? 'yes' : `no (${shown(endpoint.disabledReason, 40)})`,
        shown(endpoint.url, 80),
        endpoint.eventTypes ? shown(endpoint.eventTypes.join(','), 60) : 'all',
        String(endpoint.consecutiveFailures),
        time(endpoint.lastSuccessAt),
        shown(endpoint.description, 40),
      ]),
    ),
  );
  return endpoints;
}

/** `webhooks:remove`: the endpoint and its deliveries. */
export async function removeWebhookCommand(deps: WebhookCommandDeps, input: { id: string }): Promise<void> {
  await refusedAsCliError(() => deps.webhooks.deleteEndpoint(input.id));
  deps.out(`webhook endpoint ${input.id} removed, with its deliveries`);
}

/** `webhooks:enable` and `webhooks:disable`. Enabling starts the failure count over; pending deliveries then go out. */
export async function setWebhookEnabledCommand(
  deps: WebhookCommandDeps,
  input: { id: string; enabled: boolean },
): Promise<WebhookEndpointRecord> {
  const endpoint = await refusedAsCliError(() =>
    deps.webhooks.updateEndpoint(input.id, { enabled: input.enabled }),
  );
  deps.out(
    input.enabled
      ? `webhook endpoint ${endpoint.id} enabled; its pending deliveries go out`
      : `webhook endpoint ${endpoint.id} disabled; no new event is queued for it, and queued deliveries wait until it is enabled`,
  );
  return endpoint;
}

/** `webhooks:rotate`: a new secret, printed once; the previous one still signs until the overlap ends. */
export async function rotateWebhookCommand(
  deps: WebhookCommandDeps,
  input: { id: string },
): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
  const rotated = await refusedAsCliError(() => deps.webhooks.rotateSecret(input.id));
  printSecret(deps, rotated.endpoint, rotated.secret);
  if (rotated.endpoint.previousSecretExpiresAt)
    deps.out(
      `The previous secret also signs until ${rotated.endpoint.previousSecretExpiresAt.toISOString()}.`,
    );
  return rotated;
}

/** `webhooks:test`: a `webhook.test` delivery to this endpoint, queued for the server's dispatcher. */
export async function testWebhookCommand(deps: WebhookCommandDeps, input: { id: string }): Promise<string> {
  const { deliveryId } = await refusedAsCliError(() => deps.webhooks.sendTest(input.id));
  deps.out(
    `test event queued: delivery ${deliveryId}; the server's dispatcher sends it (see webhooks:deliveries ${input.id})`,
  );
  return deliveryId;
}

/** `webhooks:deliveries`: the endpoint's log, newest first, as a table or (`--json`) as the API answers. */
export async function listDeliveriesCommand(
  deps: WebhookCommandDeps,
  input: {
    id: string;
    status?: DeliveryStatus | undefined;
    limit: number;
    cursor?: string | undefined;
    json: boolean;
  },
): Promise<DeliveryView[]> {
  const page = await refusedAsCliError(() => deliveryPage(deps.webhooks, input.id, input));
  if (input.json) {
    deps.out(
      terminalSafeJson({
        deliveries: page.deliveries.map(webhookDeliveryJson),
        next_cursor: page.nextCursor,
      }),
    );
    return page.deliveries;
  }
  if (page.deliveries.length === 0) {
    deps.out(input.status ? `no ${input.status} deliveries` : 'no deliveries');
    return page.deliveries;
  }
  deps.out(
    formatTable(
      [
        'ID',
        'WEBHOOK ID',
        'TYPE',
        'STATUS',
        'ATTEMPTS',
        'HTTP',
        'CREATED',
        'NEXT ATTEMPT',
        'SENT',
        'LAST ERROR',
      ],
      page.deliveries.map((delivery) => [
        delivery.id,
        delivery.webhookId,
        delivery.type,
        delivery.status,
        String(delivery.attempts),
        delivery.lastStatus === null ? '-' : String(delivery.lastStatus),
        time(delivery.createdAt),
        delivery.status === 'pending' ? time(delivery.nextAttemptAt) : '-',
        time(delivery.sentAt),
        shown(delivery.lastError, 60),
      ]),
    ),
  );
  if (page.nextCursor) deps.out(`more: webhooks:deliveries ${input.id} --cursor ${page.nextCursor}`);
  return page.deliveries;
}

/** `webhooks:replay`: a failed delivery back to pending, due now, under the same webhook-id. */
export async function replayDeliveryCommand(deps: WebhookCommandDeps, input: { id: string }): Promise<void> {
  await refusedAsCliError(() => deps.webhooks.replay(input.id));
  deps.out(`delivery ${input.id} is pending again; the server's dispatcher sends it (same webhook-id)`);
}
