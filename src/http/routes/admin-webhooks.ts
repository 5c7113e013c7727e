import type { Context } from 'hono';
import type { AuthErrorCode } from '../../domain/errors.js';
import type { DeliveryView, WebhookEndpointRecord } from '../../ports/webhooks.js';
import type { Admin } from '../../services/admin-service.js';
import { deliveryPage, webhookIdOrNotFound } from '../../services/webhook-review.js';
import type { RouteContext } from '../context.js';
import type { AuthVariables } from '../middleware/require-auth.js';
import * as R from '../responses.js';
import { BAD_INPUT, type Method, type OkResponse, type RouteTable } from '../route-table.js';
import { WebhookCreateBody, WebhookDeliveriesQuery, WebhookPatchBody } from '../schemas.js';

/** An endpoint as an admin sees it: never its secret (shown once, at creation and rotation). */
export const webhookEndpointJson = (endpoint: WebhookEndpointRecord) => ({
  id: endpoint.id,
  url: endpoint.url,
  description: endpoint.description,
  event_types: endpoint.eventTypes,
  enabled: endpoint.enabled,
  consecutive_failures: endpoint.consecutiveFailures,
  last_success_at: endpoint.lastSuccessAt?.toISOString() ?? null,
  disabled_at: endpoint.disabledAt?.toISOString() ?? null,
  disabled_reason: endpoint.disabledReason,
  previous_secret_expires_at: endpoint.previousSecretExpiresAt?.toISOString() ?? null,
  created_at: endpoint.createdAt.toISOString(),
  updated_at: endpoint.updatedAt.toISOString(),
});

/** A delivery in the log: never its body (nothing secret in it, but nothing an operator needs either). */
export const webhookDeliveryJson = (delivery: DeliveryView) => ({
  id: delivery.id,
  webhook_id: delivery.webhookId,
  type: delivery.type,
  status: delivery.status,
  attempts: delivery.attempts,
  last_status: delivery.lastStatus,
  last_error: delivery.lastError,
  next_attempt_at: delivery.nextAttemptAt.toISOString(),
  created_at: delivery.createdAt.toISOString(),
  sent_at: delivery.sentAt?.toISOString() ?? null,
});

type AdminEnv = { Variables: AuthVariables & { admin: Admin } };

/**
 * `/v1/admin/webhooks*` (issue #18, Operators): endpoints, their secrets, a test event, the
 * delivery log and a replay. Declared on the admin table (src/http/routes/admin.ts), so its
 * guard (aal2, admin role) runs first and the document states it. Every write is an
 * `admin action` log line naming the admin (OWASP ASVS V7.2.2): webhooks concern no user's
 * security log. Never the URL in a log line (a receiver may put a token in its query).
 */
export function adminWebhookRoutes(
  table: RouteTable<AdminEnv>,
  ctx: RouteContext,
  adminErrors: AuthErrorCode[],
) {
  const { webhooks } = ctx;
  const route = (
    method: Method,
    path: string,
    summary: string,
    ok: OkResponse,
    errors: AuthErrorCode[] = [...adminErrors, 'not_found'],
  ) => ({ method, path: `/webhooks${path}`, tag: 'admin', summary, ok, errors });

  const audit = (c: Context<AdminEnv>, action: string, details: Record<string, unknown>) => {
    const admin = c.get('admin');
    ctx.logger.info('admin action', {
      action,
      ...details,
      admin_id: admin.user.id,
      admin_session_id: admin.sessionId,
    });
  };
  const endpointId = (c: Context<AdminEnv>) => webhookIdOrNotFound(c.req.param('id') ?? '', 'endpoint');

  table.route(
    {
      ...route(
        'post',
        '',
        'Register a webhook endpoint; its signing secret is in this answer only',
        {
          status: 201,
          description: 'The endpoint, and its secret (`whsec_…`): shown this once, never again',
          schema: R.WebhookEndpointWithSecret,
        },
        [...BAD_INPUT, ...adminErrors],
      ),
      description:
        'The URL is checked against the policy (https: in production; private, loopback, link-local and local names refused unless `WEBHOOK_ALLOW_PRIVATE=true`; no credentials, no fragment; at most 2000 characters): 400 `invalid_request` names the reason. `event_types`: names of the catalogue (at most 50), or null/absent for every type. The Node sender checks every address the name resolves to again at each connection (DNS rebinding).',
      body: { schema: WebhookCreateBody },
    },
    async (c, { body }) => {
      const { endpoint, secret } = await webhooks.createEndpoint({
        url: body.url,
        eventTypes: body.event_types ?? null,
        description: body.description ?? null,
      });
      audit(c, 'webhook_created', {
        webhook_endpoint_id: endpoint.id,
        event_types: endpoint.eventTypes ?? 'all',
      });
      return c.json({ endpoint: webhookEndpointJson(endpoint), secret }, 201);
    },
  );

  table.route(
    route(
      'get',
      '',
      'The webhook endpoints, oldest first, without secrets',
      {
        status: 200,
        description: 'Every endpoint',
        schema: R.WebhookEndpointList,
      },
      adminErrors,
    ),
    async (c) => c.json({ endpoints: (await webhooks.listEndpoints()).map(webhookEndpointJson) }),
  );

  table.route(
    route('get', '/:id', 'One webhook endpoint, without its secret', {
      status: 200,
      description: 'The endpoint',
      schema: R.WebhookEndpointOne,
    }),
    async (c) => c.json({ endpoint: webhookEndpointJson(await webhooks.getEndpoint(endpointId(c))) }),
  );

  table.route(
    {
      ...route(
        'patch',
        '/:id',
        'Change an endpoint: URL, event types, description, enabled',
        { status: 200, description: 'The endpoint', schema: R.WebhookEndpointOne },
        [...BAD_INPUT, ...adminErrors, 'not_found'],
      ),
      description:
        'The URL and event types are checked as at registration. `enabled: true` enables an endpoint again (its failure count from zero; its pending deliveries go out); `enabled: false`: no new event is queued for it, and the deliveries already queued wait, pending, until it is enabled.',
      body: { schema: WebhookPatchBody },
    },
    async (c, { body }) => {
      const id = endpointId(c);
      const endpoint = await webhooks.updateEndpoint(id, {
        ...(body.url !== undefined ? { url: body.url } : {}),
        ...(body.event_types !== undefined ? { eventTypes: body.event_types } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
      });
      audit(c, 'webhook_updated', {
        webhook_endpoint_id: id,
        changed: Object.keys(body).filter((key) => body[key as keyof typeof body] !== undefined),
        ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
      });
      return c.json({ endpoint: webhookEndpointJson(endpoint) });
    },
  );

  table.route(
    route('delete', '/:id', 'Remove an endpoint and its deliveries', { status: 204, description: 'Removed' }),
    async (c) => {
      const id = endpointId(c);
      await webhooks.deleteEndpoint(id);
      audit(c, 'webhook_deleted', { webhook_endpoint_id: id });
      return c.body(null, 204);
    },
  );

  table.route(
    {
      ...route('post', '/:id/rotate-secret', 'A new signing secret; the old one still signs for a while', {
        status: 200,
        description: 'The endpoint, and its new secret: shown this once, never again',
        schema: R.WebhookEndpointWithSecret,
      }),
      description:
        'The new secret signs from now; the previous one also signs until `previous_secret_expires_at` (`WEBHOOK_SECRET_OVERLAP`, a day by default): each delivery carries both signatures meanwhile, as Standard Webhooks allows, so receivers can switch without losing one.',
    },
    async (c) => {
      const id = endpointId(c);
      const { endpoint, secret } = await webhooks.rotateSecret(id);
      audit(c, 'webhook_secret_rotated', { webhook_endpoint_id: id });
      return c.json({ endpoint: webhookEndpointJson(endpoint), secret });
    },
  );

  table.route(
    {
      ...route('post', '/:id/test', 'Send a test event (`webhook.test`) to this endpoint', {
        status: 202,
        description: 'Queued: the dispatcher delivers it as any other event',
        schema: R.WebhookTestQueued,
      }),
      description:
        'One delivery of `webhook.test` (`data.endpoint_id`) to this endpoint only, signed and retried as any other; its outcome is in the delivery log. A disabled endpoint gets it once enabled again.',
    },
    async (c) => {
      const id = endpointId(c);
      const { deliveryId } = await webhooks.sendTest(id);
      audit(c, 'webhook_test_sent', { webhook_endpoint_id: id, delivery_id: deliveryId });
      return c.json({ delivery_id: deliveryId }, 202);
    },
  );

  table.route(
    {
      ...route(
        'get',
        '/:id/deliveries',
        "An endpoint's delivery log, newest first, without bodies",
        { status: 200, description: 'A page of deliveries', schema: R.WebhookDeliveryList },
        ['invalid_request', ...adminErrors, 'not_found'],
      ),
      description:
        'Each delivery: id, `webhook_id` (the `webhook-id` header, the same on every attempt), type, status (`pending`, `sent`, `failed`), attempts, the last HTTP status and error (at most 500 characters), when it is next due, when it was written and sent.',
      query: {
        schema: WebhookDeliveriesQuery,
        invalid: (error) =>
          error.issues.some((issue) => issue.path[0] === 'cursor')
            ? 'cursor is not valid: send next_cursor as received'
            : 'status: pending, sent or failed; limit: 1-100',
      },
    },
    async (c, { query }) => {
      const page = await deliveryPage(webhooks, c.req.param('id') ?? '', query);
      return c.json({ deliveries: page.deliveries.map(webhookDeliveryJson), next_cursor: page.nextCursor });
    },
  );

  table.route(
    {
      ...route(
        'post',
        '/deliveries/:id/replay',
        'Send a failed delivery again',
        {
          status: 202,
          description: 'Pending again, due now, its attempts counted from zero, under the same `webhook-id`',
          schema: R.WebhookReplayed,
        },
        [...adminErrors, 'not_found', 'delivery_not_replayable'],
      ),
      description:
        'One conditional UPDATE: only a `failed` delivery (409 `delivery_not_replayable` for a pending or sent one; 404 for an unknown id). Its `webhook-id` is unchanged, so a receiver that got it before can tell.',
    },
    async (c) => {
      const id = webhookIdOrNotFound(c.req.param('id') ?? '', 'delivery');
      await webhooks.replay(id);
      audit(c, 'webhook_delivery_replayed', { delivery_id: id });
      return c.json({ replayed: true }, 202);
    },
  );
}
