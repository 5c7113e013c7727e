import { WEBHOOK_EVENT_TYPES } from '../../../domain/webhook-events.js';
import type { DeliveryStatus, DeliveryView, WebhookEndpointRecord } from '../../../ports/webhooks.js';
import { AdminNav } from './admin.js';
import { absoluteTime } from './format.js';
import { Csrf, Layout, type Notice, type PageContext, When } from './layout.js';

/**
 * The administrators' webhooks page (issue #18, Operators): the endpoints, the form to add
 * one, each endpoint's actions and delivery log, and the one page that ever shows a signing
 * secret (after adding an endpoint or rotating its secret). Every value is a JSX child or
 * attribute, so escaped: a URL or a description is whatever an operator typed.
 */

export const WEBHOOKS = '/account/admin/webhooks';
export const endpointPath = (id: string) => `${WEBHOOKS}/${id}`;

/** What the add form had when it comes back with errors. */
export interface EndpointForm {
  url?: string;
  description?: string;
  /** 'all': every event type, those added later included; 'some': the checked ones. */
  scope?: 'all' | 'some';
  types?: string[];
  errors?: { url?: string; types?: string; description?: string; form?: string };
}

const typesText = (types: string[] | null) => (types === null ? 'Every event' : types.join(', '));

function EndpointState(props: { endpoint: WebhookEndpointRecord }) {
  const { endpoint } = props;
  if (endpoint.enabled) return <>Enabled</>;
  return <strong>{endpoint.disabledReason ? `Disabled: ${endpoint.disabledReason}` : 'Disabled'}</strong>;
}

function EndpointFacts(props: { endpoint: WebhookEndpointRecord; now: Date }) {
  const { endpoint, now } = props;
  return (
    <dl>
      <dt>Events</dt>
      <dd>{typesText(endpoint.eventTypes)}</dd>
      <dt>State</dt>
      <dd>
        <EndpointState endpoint={endpoint} />
      </dd>
      <dt>Failures in a row</dt>
      <dd>{endpoint.consecutiveFailures}</dd>
      <dt>Last success</dt>
      <dd>{endpoint.lastSuccessAt ? <When at={endpoint.lastSuccessAt} now={now} /> : 'Never'}</dd>
      {endpoint.description ? (
        <>
          <dt>Description</dt>
          <dd>{endpoint.description}</dd>
        </>
      ) : null}
    </dl>
  );
}

export function WebhooksPage(props: {
  page: PageContext;
  endpoints: WebhookEndpointRecord[];
  now: Date;
  notice?: Notice | undefined;
  form?: EndpointForm;
}) {
  return (
    <Layout page={props.page} title="Webhooks" section="admin" notice={props.notice}>
      <AdminNav current="webhooks" />
      <p class="muted">
        This server sends signed events (Standard Webhooks) to these URLs. A delivery is retried for about a
        day; an endpoint whose deliveries keep failing is disabled and every administrator is told.
      </p>
      <section aria-labelledby="endpoints-title">
        <h2 id="endpoints-title">Endpoints</h2>
        {props.endpoints.length === 0 ? <p class="muted">No endpoints yet.</p> : null}
        {props.endpoints.map((endpoint) => (
          <article class="card" aria-labelledby={`endpoint-${endpoint.id}`} data-endpoint={endpoint.id}>
            <h3 id={`endpoint-${endpoint.id}`}>
              <a href={endpointPath(endpoint.id)}>{endpoint.url}</a>
            </h3>
            <EndpointFacts endpoint={endpoint} now={props.now} />
          </article>
        ))}
      </section>
      <AddEndpointForm page={props.page} form={props.form ?? {}} />
    </Layout>
  );
}

function FieldError(props: { id: string; error: string | undefined }) {
  return props.error ? (
    <p class="error" id={props.id}>
      {props.error}
    </p>
  ) : null;
}

function AddEndpointForm(props: { page: PageContext; form: EndpointForm }) {
  const { form } = props;
  const errors = form.errors ?? {};
  const checked = new Set(form.types ?? []);
  const scope = form.scope ?? 'all';
  return (
    <form method="post" action={WEBHOOKS} class="card" novalidate aria-labelledby="add-title">
      <Csrf page={props.page} />
      <h2 id="add-title">Add an endpoint</h2>
      {errors.form ? (
        <p class="error" role="alert">
          {errors.form}
        </p>
      ) : null}
      <div class="field">
        <label for="webhook-url">URL</label>
        <p class="hint" id="webhook-url-hint">
          Where the events are posted. https: in production; private and loopback addresses are refused.
        </p>
        <input
          id="webhook-url"
          name="url"
          type="text"
          inputmode="url"
          autocomplete="off"
          required
          maxlength={2000}
          value={form.url}
          aria-invalid={errors.url ? 'true' : undefined}
          aria-describedby={errors.url ? 'webhook-url-hint webhook-url-error' : 'webhook-url-hint'}
        />
        <FieldError id="webhook-url-error" error={errors.url} />
      </div>
      <fieldset class="field" aria-describedby={errors.types ? 'webhook-types-error' : undefined}>
        <legend>Events</legend>
        <label class="check">
          <input type="radio" name="scope" value="all" checked={scope === 'all'} />
          Every event, including types added later
        </label>
        <label class="check">
          <input type="radio" name="scope" value="some" checked={scope === 'some'} />
          Only the events checked below
        </label>
        {WEBHOOK_EVENT_TYPES.map((type) => (
          <label class="check">
            <input type="checkbox" name="types" value={type} checked={checked.has(type)} />
            <code>{type}</code>
          </label>
        ))}
        <FieldError id="webhook-types-error" error={errors.types} />
      </fieldset>
      <div class="field">
        <label for="webhook-description">Description (optional)</label>
        <input
          id="webhook-description"
          name="description"
          type="text"
          autocomplete="off"
          required={false}
          maxlength={200}
          value={form.description}
          aria-invalid={errors.description ? 'true' : undefined}
          aria-describedby={errors.description ? 'webhook-description-error' : undefined}
        />
        <FieldError id="webhook-description-error" error={errors.description} />
      </div>
      <button type="submit">Add endpoint</button>
    </form>
  );
}

/** The only place a signing secret is ever shown: right after it was made. */
export function SecretPage(props: {
  page: PageContext;
  endpoint: WebhookEndpointRecord;
  secret: string;
  rotated: boolean;
}) {
  const { endpoint } = props;
  return (
    <Layout page={props.page} title={props.rotated ? 'New signing secret' : 'Endpoint added'} section="admin">
      <AdminNav current="webhooks" />
      <section class="card" aria-labelledby="secret-title">
        <h2 id="secret-title">Copy the signing secret now</h2>
        <p>
          This is the only time it is shown: the server keeps it sealed and cannot show it again. Give it to
          the receiver at <strong>{endpoint.url}</strong> to verify the <code>webhook-signature</code> header.
          If it is lost, rotate the secret.
        </p>
        <p>
          <code id="webhook-secret" class="secret">
            {props.secret}
          </code>
        </p>
        <button type="button" class="secondary" data-copy="webhook-secret" hidden>
          Copy the secret
        </button>
        {props.rotated && endpoint.previousSecretExpiresAt ? (
          <p class="muted">
            The previous secret also signs every delivery until{' '}
            {absoluteTime(endpoint.previousSecretExpiresAt)}, so the receiver can switch over.
          </p>
        ) : null}
      </section>
      <p>
        <a href={endpointPath(endpoint.id)}>I have copied it: go to the endpoint</a>
      </p>
    </Layout>
  );
}

const STATUS_TEXT: Record<DeliveryStatus, string> = {
  pending: 'Pending',
  sent: 'Sent',
  failed: 'Failed',
};

const STATUS_FILTERS: { status: DeliveryStatus | undefined; label: string }[] = [
  { status: undefined, label: 'All' },
  { status: 'pending', label: 'Pending' },
  { status: 'sent', label: 'Sent' },
  { status: 'failed', label: 'Failed' },
];

const deliveriesHref = (id: string, status: DeliveryStatus | undefined, cursor?: string) => {
  const query = new URLSearchParams({
    ...(status ? { status } : {}),
    ...(cursor ? { cursor } : {}),
  }).toString();
  return `${endpointPath(id)}${query ? `?${query}` : ''}#deliveries-title`;
};

function DeliveryLog(props: {
  page: PageContext;
  endpoint: WebhookEndpointRecord;
  deliveries: DeliveryView[];
  status: DeliveryStatus | undefined;
  nextCursor: string | null;
  now: Date;
}) {
  const { endpoint, now } = props;
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <nav aria-label="Deliveries by state" class="actions">
        {STATUS_FILTERS.map((filter) => (
          <a
            href={deliveriesHref(endpoint.id, filter.status)}
            aria-current={filter.status === props.status ? 'page' : undefined}
          >
            {filter.label}
          </a>
        ))}
      </nav>
      <table>
        <caption>Newest first</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">State</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last answer</th>
            <th scope="col">Next try</th>
            <th scope="col">Created</th>
            <th scope="col">Sent</th>
            <th scope="col">
              <span class="muted">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.deliveries.length === 0 ? (
            <tr>
              <td colspan={8} class="muted">
                None
              </td>
            </tr>
          ) : null}
          {props.deliveries.map((delivery) => (
            <tr data-delivery={delivery.id}>
              <th scope="row">
                <code>{delivery.type}</code>
              </th>
              <td>
                {delivery.status === 'failed' ? (
                  <strong>{STATUS_TEXT.failed}</strong>
                ) : (
                  STATUS_TEXT[delivery.status]
                )}
              </td>
              <td class="num">{delivery.attempts}</td>
              <td>
                {delivery.lastStatus !== null ? `HTTP ${delivery.lastStatus}` : null}
                {delivery.lastStatus !== null && delivery.lastError ? ': ' : null}
                {delivery.lastError}
                {delivery.lastStatus === null && !delivery.lastError ? <span class="muted">None</span> : null}
              </td>
              <td>{delivery.status === 'pending' ? <When at={delivery.nextAttemptAt} now={now} /> : '—'}</td>
              <td>
                <When at={delivery.createdAt} now={now} />
              </td>
              <td>{delivery.sentAt ? <When at={delivery.sentAt} now={now} /> : '—'}</td>
              <td>
                {delivery.status === 'failed' ? (
                  <form
                    method="post"
                    action={`${endpointPath(endpoint.id)}/deliveries/${delivery.id}/replay`}
                  >
                    <Csrf page={props.page} />
                    <button type="submit" class="secondary">
                      Replay
                    </button>
                  </form>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.nextCursor ? (
        <a href={deliveriesHref(endpoint.id, props.status, props.nextCursor)}>Older deliveries</a>
      ) : null}
    </section>
  );
}

export function EndpointPage(props: {
  page: PageContext;
  endpoint: WebhookEndpointRecord;
  deliveries: DeliveryView[];
  status: DeliveryStatus | undefined;
  nextCursor: string | null;
  now: Date;
  notice?: Notice | undefined;
}) {
  const { endpoint, page } = props;
  const path = endpointPath(endpoint.id);
  return (
    <Layout page={page} title="Webhook endpoint" section="admin" notice={props.notice}>
      <AdminNav current="webhooks" />
      <p>
        <a href={WEBHOOKS}>All endpoints</a>
      </p>
      <article class="card" aria-labelledby="endpoint-title">
        <h2 id="endpoint-title">{endpoint.url}</h2>
        <EndpointFacts endpoint={endpoint} now={props.now} />
        {endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > props.now ? (
          <p class="muted">
            The previous secret also signs until {absoluteTime(endpoint.previousSecretExpiresAt)}.
          </p>
        ) : null}
        <div class="actions">
          <form method="post" action={`${path}/${endpoint.enabled ? 'disable' : 'enable'}`}>
            <Csrf page={page} />
            <button type="submit" class="secondary">
              {endpoint.enabled ? 'Disable' : 'Enable'}
            </button>
          </form>
          <form method="post" action={`${path}/test`}>
            <Csrf page={page} />
            <button type="submit" class="secondary">
              Send a test event
            </button>
          </form>
          <form method="post" action={`${path}/rotate`}>
            <Csrf page={page} />
            <button type="submit" class="secondary">
              Rotate the secret
            </button>
          </form>
          <a class="button secondary" href={`${path}/delete`} data-dialog="confirm-delete">
            Delete
          </a>
        </div>
      </article>
      <DeliveryLog
        page={page}
        endpoint={endpoint}
        deliveries={props.deliveries}
        status={props.status}
        nextCursor={props.nextCursor}
        now={props.now}
      />
      <dialog id="confirm-delete" aria-labelledby="confirm-delete-title">
        <DeleteForm page={page} endpoint={endpoint} enhance />
      </dialog>
    </Layout>
  );
}

function DeleteForm(props: { page: PageContext; endpoint: WebhookEndpointRecord; enhance?: boolean }) {
  const { endpoint } = props;
  return (
    <form method="post" action={`${endpointPath(endpoint.id)}/delete`}>
      <Csrf page={props.page} />
      <h2 id="confirm-delete-title">Delete this endpoint?</h2>
      <p>
        <strong>{endpoint.url}</strong> gets no more events, and its delivery log is deleted with it. This
        cannot be undone.
      </p>
      <div class="actions">
        <button type="submit" class="danger">
          Delete the endpoint
        </button>
        {props.enhance ? (
          <button type="button" class="secondary" data-close>
            Cancel
          </button>
        ) : (
          <a href={endpointPath(endpoint.id)}>Cancel</a>
        )}
      </div>
    </form>
  );
}

/** The confirmation step without JavaScript (with it, a dialog on the endpoint's page). */
export const DeleteEndpointPage = (props: { page: PageContext; endpoint: WebhookEndpointRecord }) => (
  <Layout page={props.page} title="Confirm" section="admin">
    <div class="card">
      <DeleteForm page={props.page} endpoint={props.endpoint} />
    </div>
  </Layout>
);
