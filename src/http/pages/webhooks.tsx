import type { Context } from 'hono';
import type { AuthError } from '../../domain/errors.js';
import type { DeliveryStatus } from '../../ports/webhooks.js';
import { deliveryPage, webhookIdOrNotFound } from '../../services/webhook-review.js';
import { WebhookCreateBody, WebhookDeliveriesQuery } from '../schemas.js';
import { adminGuard } from './admin.js';
import type { PageApp, PageDeps, PageEnv } from './env.js';
import { expected } from './failures.js';
import { message, pageOf } from './render.js';
import type { Notice } from './views/layout.js';
import {
  DeleteEndpointPage,
  type EndpointForm,
  EndpointPage,
  endpointPath,
  SecretPage,
  WEBHOOKS,
  WebhooksPage,
} from './views/webhooks.js';

const DELIVERIES_PER_PAGE = 25;

/** Messages named in a redirect's `?notice=`: a fixed list, so a link cannot put words on the page. */
function webhookNotice(query: Record<string, string>): Notice | undefined {
  switch (query.notice) {
    case 'deleted':
      return { kind: 'info', text: 'The endpoint was deleted with its delivery log.' };
    case 'gone':
      return { kind: 'error', text: 'That endpoint no longer exists.' };
    case 'enabled':
      return { kind: 'info', text: 'The endpoint is enabled; its failure count starts over.' };
    case 'disabled':
      return {
        kind: 'info',
        text: 'The endpoint is disabled: its deliveries wait, pending, until it is enabled again.',
      };
    case 'test_sent':
      return { kind: 'info', text: 'A test event (webhook.test) is queued for this endpoint.' };
    case 'test_held':
      return {
        kind: 'info',
        text: 'A test event (webhook.test) is queued; it is sent once the endpoint is enabled.',
      };
    case 'replayed':
      return { kind: 'info', text: 'The delivery is queued again, under the same webhook-id.' };
    case 'not_replayable':
      return {
        kind: 'error',
        text: 'Only a failed delivery can be replayed, and that one is no longer failed.',
      };
    case 'delivery_gone':
      return { kind: 'error', text: 'That delivery no longer exists.' };
    default:
      return undefined;
  }
}

/** A form value that must come once, as text; anything else (a file, the field repeated) is refused. */
const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const all = (value: unknown): unknown[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** "url: URL must be https:" (the service's invalid_request) → the field it names and the reason. */
function fieldOf(error: AuthError): EndpointForm['errors'] {
  const [field, ...rest] = error.description.split(': ');
  const reason = rest.join(': ');
  if (field === 'url' && reason) return { url: `${reason[0]?.toUpperCase()}${reason.slice(1)}.` };
  if (field === 'event_types' && reason) return { types: `Event types: ${reason}.` };
  return { form: error.description };
}

/**
 * `/account/admin/webhooks` (issue #18, Operators): the endpoints and their delivery logs for
 * administrators, guarded as the analytics page (./admin.tsx: admin role, then `aal2` or a
 * step-up form). Every action calls the webhooks service the admin API calls, with the same
 * input schema and id and cursor rules (services/webhook-review.ts), and writes the same
 * `admin action` log line (OWASP ASVS V7.2.2), never with the URL or the secret. A signing
 * secret is shown once, in the answer to the POST that made it, and is never in a URL.
 */
export function webhookPages(app: PageApp, deps: PageDeps): void {
  const { webhooks, clock, logger } = deps;
  const { signedIn } = deps.session;
  const { adminOnly, aal2 } = adminGuard(deps);
  const guard = [signedIn, adminOnly, aal2('webhooks')] as const;

  const audit = (c: Context<PageEnv>, action: string, details: Record<string, unknown>) => {
    const caller = c.get('caller');
    logger.info('admin action', { action, ...details, admin_id: caller.sub, admin_session_id: caller.sid });
  };

  const listPage = async (c: Context<PageEnv>, form?: EndpointForm, status: 200 | 400 = 200) =>
    c.html(
      <WebhooksPage
        page={pageOf(c)}
        endpoints={await webhooks.listEndpoints()}
        now={clock.now()}
        notice={webhookNotice(c.req.query())}
        {...(form ? { form } : {})}
      />,
      status,
    );

  app.get(WEBHOOKS_ROUTE, ...guard, (c) => listPage(c));

  app.post(WEBHOOKS_ROUTE, ...guard, async (c) => {
    const body = await c.req.parseBody({ all: true });
    const url = single(body.url) ?? '';
    const description = single(body.description) ?? '';
    const scope = body.scope === 'some' ? 'some' : 'all';
    const types = all(body.types);
    const form: EndpointForm = {
      url,
      description,
      scope,
      types: types.filter((type): type is string => typeof type === 'string'),
    };
    const again = (errors: EndpointForm['errors']) => listPage(c, { ...form, errors }, 400);

    // The admin API's own schema: the same bounds (URL 2000, 50 types, description 200).
    const input = WebhookCreateBody.safeParse({
      url,
      event_types: scope === 'all' ? null : types,
      description: description.trim() || null,
    });
    if (!input.success) {
      const errors: NonNullable<EndpointForm['errors']> = {};
      for (const issue of input.error.issues) {
        const field = issue.path[0];
        if (field === 'url') errors.url = 'Enter a URL of at most 2000 characters.';
        else if (field === 'description') errors.description = 'Keep the description to 200 characters.';
        else errors.types = 'Choose event types from the list.';
      }
      return again(errors);
    }
    if (!input.data.url.trim()) return again({ url: 'Enter the URL to send events to.' });
    if (scope === 'some' && types.length === 0)
      return again({ types: 'Check at least one event type, or choose every event.' });

    try {
      const { endpoint, secret } = await webhooks.createEndpoint({
        url: input.data.url.trim(),
        eventTypes: input.data.event_types ?? null,
        description: input.data.description ?? null,
      });
      audit(c, 'webhook_created', {
        webhook_endpoint_id: endpoint.id,
        event_types: endpoint.eventTypes ?? 'all',
      });
      return c.html(<SecretPage page={pageOf(c)} endpoint={endpoint} secret={secret} rotated={false} />, 201);
    } catch (error) {
      return again(fieldOf(expected(error, 'invalid_request')));
    }
  });

  app.get(`${WEBHOOKS_ROUTE}/:id`, ...guard, async (c) => {
    const query = WebhookDeliveriesQuery.safeParse({
      status: c.req.query('status'),
      cursor: c.req.query('cursor'),
      limit: DELIVERIES_PER_PAGE,
    });
    if (!query.success)
      return message(c, 'Webhook endpoint', 'That link to the delivery log is not valid.', 400);
    try {
      const endpoint = await webhooks.getEndpoint(webhookIdOrNotFound(c.req.param('id'), 'endpoint'));
      const status: DeliveryStatus | undefined = query.data.status;
      const log = await deliveryPage(webhooks, endpoint.id, {
        status,
        limit: query.data.limit,
        cursor: query.data.cursor,
      });
      return c.html(
        <EndpointPage
          page={pageOf(c)}
          endpoint={endpoint}
          deliveries={log.deliveries}
          status={status}
          nextCursor={log.nextCursor}
          now={clock.now()}
          notice={webhookNotice(c.req.query())}
        />,
      );
    } catch (error) {
      const failure = expected(error, 'not_found', 'invalid_request');
      return failure.code === 'not_found'
        ? message(c, 'Webhook endpoint', 'There is no such webhook endpoint.', 404)
        : message(c, 'Webhook endpoint', 'That link to the delivery log is not valid.', 400);
    }
  });

  for (const enabled of [true, false]) {
    app.post(`${WEBHOOKS_ROUTE}/:id/${enabled ? 'enable' : 'disable'}`, ...guard, async (c) =>
      onEndpoint(c, async (id) => {
        await webhooks.updateEndpoint(id, { enabled });
        audit(c, 'webhook_updated', { webhook_endpoint_id: id, changed: ['enabled'], enabled });
        return c.redirect(`${endpointPath(id)}?notice=${enabled ? 'enabled' : 'disabled'}`, 303);
      }),
    );
  }

  app.post(`${WEBHOOKS_ROUTE}/:id/test`, ...guard, async (c) =>
    onEndpoint(c, async (id) => {
      const endpoint = await webhooks.getEndpoint(id);
      const { deliveryId } = await webhooks.sendTest(id);
      audit(c, 'webhook_test_sent', { webhook_endpoint_id: id, delivery_id: deliveryId });
      return c.redirect(`${endpointPath(id)}?notice=${endpoint.enabled ? 'test_sent' : 'test_held'}`, 303);
    }),
  );

  app.post(`${WEBHOOKS_ROUTE}/:id/rotate`, ...guard, async (c) =>
    onEndpoint(c, async (id) => {
      const { endpoint, secret } = await webhooks.rotateSecret(id);
      audit(c, 'webhook_secret_rotated', { webhook_endpoint_id: id });
      return c.html(<SecretPage page={pageOf(c)} endpoint={endpoint} secret={secret} rotated />);
    }),
  );

  app.get(`${WEBHOOKS_ROUTE}/:id/delete`, ...guard, async (c) =>
    onEndpoint(c, async (id) =>
      c.html(<DeleteEndpointPage page={pageOf(c)} endpoint={await webhooks.getEndpoint(id)} />),
    ),
  );

  app.post(`${WEBHOOKS_ROUTE}/:id/delete`, ...guard, async (c) =>
    onEndpoint(c, async (id) => {
      await webhooks.deleteEndpoint(id);
      audit(c, 'webhook_deleted', { webhook_endpoint_id: id });
      return c.redirect(`${WEBHOOKS}?notice=deleted`, 303);
    }),
  );

  app.post(`${WEBHOOKS_ROUTE}/:id/deliveries/:delivery/replay`, ...guard, async (c) =>
    onEndpoint(c, async (id) => {
      const back = (notice: string) => c.redirect(`${endpointPath(id)}?notice=${notice}`, 303);
      try {
        const deliveryId = webhookIdOrNotFound(c.req.param('delivery') ?? '', 'delivery');
        await webhooks.replay(deliveryId);
        audit(c, 'webhook_delivery_replayed', { delivery_id: deliveryId });
        return back('replayed');
      } catch (error) {
        const failure = expected(error, 'not_found', 'delivery_not_replayable');
        return back(failure.code === 'not_found' ? 'delivery_gone' : 'not_replayable');
      }
    }),
  );
}

/** The page routes' path of WEBHOOKS (the account pages are mounted at /account). */
const WEBHOOKS_ROUTE = WEBHOOKS.slice('/account'.length);

/** Runs an action on the endpoint named in the path; an id that is not one (or no longer is): back to the list. */
async function onEndpoint(c: Context<PageEnv>, run: (id: string) => Promise<Response>): Promise<Response> {
  try {
    return await run(webhookIdOrNotFound(c.req.param('id') ?? '', 'endpoint'));
  } catch (error) {
    expected(error, 'not_found');
    return c.redirect(`${WEBHOOKS}?notice=gone`, 303);
  }
}
