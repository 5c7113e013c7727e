import { beforeAll, describe, expect, it } from 'vitest';
import type { WebhookRequest, WebhookResult, WebhookSender } from '../../src/ports/webhooks.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, PASSWORD, useDatabase } from '../support/harness.js';
import { totpCode } from '../support/totp.js';
import { Browser, CSRF, type Page, REFRESH } from './account-pages-browser.js';

/**
 * The administrators' webhooks page (issue #18, Operators), without JavaScript: who may open
 * it (admin role and aal2, as the admin API), an endpoint added with its secret shown once,
 * the forms' CSRF gate, enable and disable, a test event that really leaves through the
 * dispatcher, a failed delivery replayed under the same webhook-id, rotation, deletion, and
 * what an operator typed coming back escaped. The service's own rules are pinned by the
 * webhook tests; here, that the page drives them and shows their outcome.
 */

const database = useDatabase();
let lk: Latchkey;

/** A receiver stand-in: records each request and answers `answer`. */
const sent: WebhookRequest[] = [];
let answer: WebhookResult = { ok: true, status: 204, latencyMs: 1 };
const sender: WebhookSender = {
  send: async (request) => {
    sent.push(request);
    return answer;
  },
};

const MINUTE = 60_000;
const WEBHOOKS = '/account/admin/webhooks';
const HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>';

beforeAll(async () => {
  // WEBHOOK_RETRY_FOR at its least (a minute): a failing delivery fails for good within a test.
  lk = await buildLatchkey(database.current, { env: { WEBHOOK_RETRY_FOR: '60' }, webhookSender: sender });
});

let hostCounter = 0;
/** A URL no other test uses, so the sender's record and the logs can be told apart. */
const uniqueUrl = (label = 'hook') => `https://${label}-${hostCounter++}.example.com/latchkey`;

const nowSeconds = () => Math.floor(lk.clock.now().getTime() / 1000);
const codeNow = (secret: string) => totpCode(secret, nowSeconds());

async function signIn(browser: Browser, email: string, secret?: string): Promise<void> {
  if (!browser.cookie(CSRF)) expect((await browser.get('/account/sign-in')).status).toBe(200);
  const first = await browser.post('/account/sign-in', { email, password: PASSWORD });
  expect(first.status).toBe(303);
  if (secret) {
    expect(first.location).toBe('/account/sign-in/mfa');
    const second = await browser.post('/account/sign-in/mfa', { code: codeNow(secret) });
    expect(second.status).toBe(303);
  }
  expect(browser.cookie(REFRESH)).toBeDefined();
}

/** TOTP turned on through the JSON API (a session of its own). */
async function enableTotp(email: string): Promise<string> {
  const pair = await login(lk.app, email);
  const enrolled = await call(lk.app, '/v1/mfa/totp/enroll', { method: 'POST', token: pair.access_token });
  const secret: string = enrolled.json.secret;
  const activated = await call(lk.app, '/v1/mfa/totp/activate', {
    body: { code: codeNow(secret) },
    token: pair.access_token,
  });
  expect(activated.status).toBe(200);
  // A code may not be used twice (RFC 6238 §5.2): the next one comes a step on.
  lk.clock.advance(30_000);
  return secret;
}

/** A user with TOTP, signed in through the pages with a code (aal2); an admin unless told otherwise. */
async function signedInWithMfa(role: 'admin' | 'user' = 'admin') {
  const user = await registerUser(lk.app);
  const secret = await enableTotp(user.email);
  if (role === 'admin') expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
  const browser = new Browser(lk);
  await signIn(browser, user.email, secret);
  lk.clock.advance(30_000);
  return { user, browser, secret };
}

/** Adds an endpoint through the form; the answer is the one page with its secret. */
async function addEndpoint(
  browser: Browser,
  fields: { url?: string; types?: string[]; description?: string } = {},
): Promise<{ id: string; url: string; secret: string; page: Page }> {
  const url = fields.url ?? uniqueUrl();
  const form = new URLSearchParams({ csrf: browser.csrf, url, description: fields.description ?? '' });
  // Only one event nobody here causes, unless told: the log holds what the test sends.
  const types = fields.types ?? ['password.reset'];
  form.set('scope', 'some');
  for (const type of types) form.append('types', type);
  const page = await browser.post(
    WEBHOOKS,
    {},
    {
      raw: { contentType: 'application/x-www-form-urlencoded', body: form.toString() },
    },
  );
  expect(page.status, page.text).toBe(201);
  const secret = /<code id="webhook-secret" class="secret">(whsec_[A-Za-z0-9+/=]+)<\/code>/.exec(
    page.html,
  )?.[1];
  expect(secret).toBeTruthy();
  const id = new RegExp(`href="${WEBHOOKS}/([0-9a-f-]{36})"`).exec(page.html)?.[1];
  expect(id).toBeTruthy();
  return { id: id!, url, secret: secret!, page };
}

const endpointCount = async () => (await lk.webhooks.listEndpoints()).length;
const deliveriesOf = (id: string) => lk.webhooks.deliveries(id, { limit: 100 });
const sentTo = (url: string) => sent.filter((request) => request.url === url);

/** Delivers everything due (other tests' endpoints may have deliveries waiting too). */
async function dispatch() {
  await lk.webhooks.dispatcher!.drain({ maxRuns: 50 });
}

describe('who may open the webhooks page', () => {
  it('signed out: to the sign-in page', async () => {
    const browser = new Browser(lk);
    const page = await browser.get(WEBHOOKS);
    expect(page.status).toBe(303);
    expect(page.location).toBe('/account/sign-in');
  });

  it('a user who is not an admin, even with aal2: 403 on the page and on every form, nothing changed', async () => {
    const { browser } = await signedInWithMfa('user');
    const { browser: boss } = await signedInWithMfa('admin');
    const target = await addEndpoint(boss);
    const before = await endpointCount();

    const page = await browser.get(WEBHOOKS);
    expect(page.status).toBe(403);
    expect(page.text).toContain('This page is for administrators.');
    expect(page.text).not.toContain(target.url);
    expect((await browser.get(`${WEBHOOKS}/${target.id}`)).status).toBe(403);
    expect((await browser.post(WEBHOOKS, { url: uniqueUrl(), scope: 'all' })).status).toBe(403);
    expect((await browser.post(`${WEBHOOKS}/${target.id}/disable`)).status).toBe(403);
    expect((await browser.post(`${WEBHOOKS}/${target.id}/rotate`)).status).toBe(403);
    expect((await browser.post(`${WEBHOOKS}/${target.id}/delete`)).status).toBe(403);
    expect(await endpointCount()).toBe(before);
    expect((await lk.webhooks.getEndpoint(target.id)).enabled).toBe(true);
    // No menu entry for a non-admin.
    expect(page.html).not.toContain(`href="${WEBHOOKS}"`);
  });

  it('an admin without two-step verification (aal1): 401 and the way to turn it on; forms refused', async () => {
    const user = await registerUser(lk.app);
    expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const before = await endpointCount();

    const page = await browser.get(WEBHOOKS);
    expect(page.status).toBe(401);
    expect(page.text).toContain('Administrator pages need two-step verification');
    expect(page.html).toContain('href="/account/security"');
    const post = await browser.post(WEBHOOKS, { url: uniqueUrl(), scope: 'all' });
    expect(post.status).toBe(401);
    expect(await endpointCount()).toBe(before);
  });

  it('an admin whose session is aal1 with TOTP on: a code steps it up and comes back to the webhooks page', async () => {
    const user = await registerUser(lk.app);
    expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    // TOTP turned on after this sign-in: the session stays aal1 (RFC 9470).
    const secret = await enableTotp(user.email);

    const page = await browser.get(WEBHOOKS);
    expect(page.status).toBe(401);
    expect(page.html).toContain('action="/account/admin/step-up"');
    expect(page.html).toContain('<input type="hidden" name="back" value="webhooks"/>');
    expect(page.text).toContain('Confirm with a code to continue');

    const stepped = await browser.post('/account/admin/step-up', { code: codeNow(secret), back: 'webhooks' });
    expect(stepped.status).toBe(303);
    expect(stepped.location).toBe(WEBHOOKS);
    const after = await browser.follow(stepped);
    expect(after.status).toBe(200);
    expect(after.text).toContain('Add an endpoint');
  });

  it('the step-up goes back only to an admin page of the fixed list', async () => {
    const user = await registerUser(lk.app);
    expect(await lk.store.setUserRole(user.id, 'admin')).toBe(true);
    const browser = new Browser(lk);
    await signIn(browser, user.email);
    const secret = await enableTotp(user.email);
    const stepped = await browser.post('/account/admin/step-up', {
      code: codeNow(secret),
      back: 'https://evil.example/',
    });
    expect(stepped.status).toBe(303);
    expect(stepped.location).toBe('/account/admin/analytics');
  });

  it('the analytics page links the webhooks page, and the webhooks page links back', async () => {
    const { browser } = await signedInWithMfa();
    const analytics = await browser.get('/account/admin/analytics');
    expect(analytics.status).toBe(200);
    expect(analytics.html).toContain(`<a href="${WEBHOOKS}">Webhooks</a>`);
    const webhooks = await browser.get(WEBHOOKS);
    expect(webhooks.status).toBe(200);
    expect(webhooks.html).toContain('<a href="/account/admin/analytics">Analytics</a>');
    expect(webhooks.html).toContain(`<a href="${WEBHOOKS}" aria-current="page">Webhooks</a>`);
  });

  it('an id that is not a UUID, or no endpoint: a 404 page, never a failed query', async () => {
    const { browser } = await signedInWithMfa();
    for (const id of ['not-a-uuid', "1' OR '1'='1", crypto.randomUUID()]) {
      const page = await browser.get(`${WEBHOOKS}/${encodeURIComponent(id)}`);
      expect(page.status, id).toBe(404);
      expect(page.text).toContain('There is no such webhook endpoint.');
    }
  });
});

describe('adding an endpoint', () => {
  it('shows the signing secret once, on the answer to the form; the list and the endpoint page never do', async () => {
    const { browser } = await signedInWithMfa();
    const url = uniqueUrl('provision');
    const added = await addEndpoint(browser, {
      url,
      types: ['user.created', 'session.revoked'],
      description: 'Profiles service',
    });
    expect(added.page.text).toContain('Copy the signing secret now');
    expect(added.page.text).toContain('This is the only time it is shown');
    expect(added.page.html.split(added.secret)).toHaveLength(2);
    // Never in a URL, a header or a cookie.
    expect(added.page.location).toBeNull();
    expect(added.page.cookies.map((cookie) => cookie.value).join(' ')).not.toContain(added.secret);

    const stored = await lk.webhooks.getEndpoint(added.id);
    expect(stored).toMatchObject({
      url,
      eventTypes: ['session.revoked', 'user.created'],
      description: 'Profiles service',
      enabled: true,
    });

    const list = await browser.get(WEBHOOKS);
    expect(list.status).toBe(200);
    expect(list.text).toContain(url);
    expect(list.text).toContain('session.revoked, user.created');
    expect(list.text).toContain('Profiles service');
    expect(list.html).not.toContain(added.secret);
    expect(list.html).not.toContain('whsec_');
    const endpoint = await browser.get(`${WEBHOOKS}/${added.id}`);
    expect(endpoint.status).toBe(200);
    expect(endpoint.html).not.toContain('whsec_');
  });

  it('"every event" subscribes to all types, those added later included', async () => {
    const { browser } = await signedInWithMfa();
    const url = uniqueUrl('all');
    const page = await browser.post(WEBHOOKS, { url, scope: 'all', types: 'user.created' });
    expect(page.status).toBe(201);
    const stored = (await lk.webhooks.listEndpoints()).find((endpoint) => endpoint.url === url);
    expect(stored?.eventTypes).toBeNull();
    expect((await browser.get(WEBHOOKS)).text).toContain('Every event');
  });

  it('bad input comes back on the form with what was typed, 400, nothing added', async () => {
    const { browser } = await signedInWithMfa();
    const before = await endpointCount();
    const cases: [Record<string, string>, string][] = [
      [{ url: '', scope: 'all' }, 'Enter the URL to send events to.'],
      [{ url: 'http://127.0.0.1:8080/hook', scope: 'all' }, 'Address not allowed: 127.0.0.1.'],
      [{ url: 'https://localhost/hook', scope: 'all' }, 'Host not allowed: localhost'],
      [
        { url: 'https://user:pw@hooks.example.com/', scope: 'all' },
        'URL must not contain a user name or password.',
      ],
      [{ url: 'ftp://hooks.example.com/', scope: 'all' }, 'URL must be http: or https:.'],
      [{ url: `https://hooks.example.com/${'a'.repeat(2000)}`, scope: 'all' }, 'Enter a URL of at most 2000'],
      [{ url: uniqueUrl(), scope: 'some' }, 'Check at least one event type'],
      [{ url: uniqueUrl(), scope: 'some', types: 'user.exploded' }, 'Event types: unknown user.exploded'],
      [
        { url: uniqueUrl(), scope: 'all', description: 'd'.repeat(201) },
        'Keep the description to 200 characters.',
      ],
    ];
    for (const [fields, error] of cases) {
      const page = await browser.post(WEBHOOKS, fields);
      expect(page.status, JSON.stringify(fields).slice(0, 100)).toBe(400);
      expect(page.text).toContain(error);
      if (fields.url && fields.url.length < 200) expect(page.html).toContain(`value="${fields.url}"`);
    }
    expect(await endpointCount()).toBe(before);
  });

  it('a field sent twice, or a flood of types, is refused, not guessed at', async () => {
    const { browser } = await signedInWithMfa();
    const before = await endpointCount();
    const twice = new URLSearchParams({ csrf: browser.csrf, scope: 'all' });
    twice.append('url', uniqueUrl());
    twice.append('url', uniqueUrl());
    const page = await browser.post(
      WEBHOOKS,
      {},
      {
        raw: { contentType: 'application/x-www-form-urlencoded', body: twice.toString() },
      },
    );
    expect(page.status).toBe(400);
    const flood = new URLSearchParams({ csrf: browser.csrf, url: uniqueUrl(), scope: 'some' });
    for (let i = 0; i < 60; i++) flood.append('types', 'user.created');
    const flooded = await browser.post(
      WEBHOOKS,
      {},
      {
        raw: { contentType: 'application/x-www-form-urlencoded', body: flood.toString() },
      },
    );
    expect(flooded.status).toBe(400);
    expect(flooded.text).toContain('Choose event types from the list.');
    expect(await endpointCount()).toBe(before);
  });
});

describe('the forms need their CSRF token and this origin', () => {
  it('a cross-site or tokenless post is refused and changes nothing', async () => {
    const { browser } = await signedInWithMfa();
    const target = await addEndpoint(browser);
    const before = await endpointCount();

    const attempts: Page[] = [
      await browser.post(WEBHOOKS, { url: uniqueUrl(), scope: 'all' }, { csrf: null }),
      await browser.post(WEBHOOKS, { url: uniqueUrl(), scope: 'all' }, { csrf: 'forged' }),
      await browser.post(WEBHOOKS, { url: uniqueUrl(), scope: 'all' }, { site: 'cross-site' }),
      await browser.post(`${WEBHOOKS}/${target.id}/disable`, {}, { csrf: null }),
      await browser.post(`${WEBHOOKS}/${target.id}/test`, {}, { site: 'cross-site' }),
      await browser.post(`${WEBHOOKS}/${target.id}/rotate`, {}, { csrf: null }),
      await browser.post(
        `${WEBHOOKS}/${target.id}/delete`,
        {},
        { site: 'same-site', origin: 'https://evil.example' },
      ),
    ];
    for (const page of attempts) {
      expect(page.status).toBe(403);
      expect(page.text).toContain('Form expired');
    }
    expect(await endpointCount()).toBe(before);
    const endpoint = await lk.webhooks.getEndpoint(target.id);
    expect(endpoint.enabled).toBe(true);
    expect(endpoint.previousSecretExpiresAt).toBeNull();
    expect(await deliveriesOf(target.id)).toEqual([]);
  });
});

describe('an endpoint: enable, disable, test event, replay, rotate, delete', () => {
  it('disable holds its deliveries, enable sends them', async () => {
    const { browser } = await signedInWithMfa();
    const { id, url } = await addEndpoint(browser);

    const disabled = await browser.post(`${WEBHOOKS}/${id}/disable`);
    expect(disabled.status).toBe(303);
    expect(disabled.location).toBe(`${WEBHOOKS}/${id}?notice=disabled`);
    const page = await browser.follow(disabled);
    expect(page.text).toContain('The endpoint is disabled');
    expect(page.text).toContain('Disabled: disabled by an operator');
    expect(page.html).toContain(`action="${WEBHOOKS}/${id}/enable"`);
    expect((await browser.get(WEBHOOKS)).text).toContain('Disabled: disabled by an operator');

    const test = await browser.post(`${WEBHOOKS}/${id}/test`);
    expect(test.location).toBe(`${WEBHOOKS}/${id}?notice=test_held`);
    await dispatch();
    expect(sentTo(url)).toHaveLength(0);

    const enabled = await browser.post(`${WEBHOOKS}/${id}/enable`);
    expect(enabled.location).toBe(`${WEBHOOKS}/${id}?notice=enabled`);
    const again = await browser.follow(enabled);
    expect(again.text).toContain('The endpoint is enabled; its failure count starts over.');
    expect(again.text).toContain('State Enabled');
    expect(again.html).toContain(`action="${WEBHOOKS}/${id}/disable"`);
    await dispatch();
    expect(sentTo(url)).toHaveLength(1);
  });

  it('"send a test event" queues a webhook.test that the dispatcher delivers, signed', async () => {
    const { browser } = await signedInWithMfa();
    const { id, url } = await addEndpoint(browser);

    const queued = await browser.post(`${WEBHOOKS}/${id}/test`);
    expect(queued.status).toBe(303);
    expect(queued.location).toBe(`${WEBHOOKS}/${id}?notice=test_sent`);
    const page = await browser.follow(queued);
    expect(page.text).toContain('A test event (webhook.test) is queued for this endpoint.');
    const [pending] = await deliveriesOf(id);
    expect(pending).toMatchObject({ type: 'webhook.test', status: 'pending', attempts: 0 });
    expect(page.html).toContain(`data-delivery="${pending!.id}"`);
    expect(page.text).toMatch(/webhook\.test Pending 0/);

    await dispatch();
    const [request] = sentTo(url);
    expect(request).toBeDefined();
    expect(JSON.parse(request!.body)).toMatchObject({ type: 'webhook.test', data: { endpoint_id: id } });
    expect(request!.headers['webhook-id']).toBe(pending!.webhookId);
    expect(request!.headers['webhook-signature']).toMatch(/^v1,/);

    const after = await browser.get(`${WEBHOOKS}/${id}`);
    expect(after.text).toMatch(/webhook\.test Sent 1 HTTP 204/);
    expect(after.text).toContain('Last success just now');
  });

  it('a failed delivery shows its error and a Replay button; replayed, it goes out again under the same webhook-id', async () => {
    const { browser } = await signedInWithMfa();
    const { id, url } = await addEndpoint(browser);
    await browser.post(`${WEBHOOKS}/${id}/test`);
    const [delivery] = await deliveriesOf(id);

    answer = { ok: false, status: 500, error: 'HTTP 500 Internal Server Error', latencyMs: 3 };
    try {
      // Past WEBHOOK_RETRY_FOR: the first failure is the last.
      lk.clock.advance(2 * MINUTE);
      await dispatch();
    } finally {
      answer = { ok: true, status: 204, latencyMs: 1 };
    }
    expect((await deliveriesOf(id))[0]).toMatchObject({ id: delivery!.id, status: 'failed', attempts: 1 });

    const failed = await browser.get(`${WEBHOOKS}/${id}`);
    expect(failed.text).toContain('Failures in a row 1');
    expect(failed.text).toMatch(/webhook\.test Failed 1 HTTP 500: HTTP 500 Internal Server Error/);
    const replayAction = `${WEBHOOKS}/${id}/deliveries/${delivery!.id}/replay`;
    expect(failed.html).toContain(`action="${replayAction}"`);
    const onlyFailed = await browser.get(`${WEBHOOKS}/${id}?status=failed`);
    expect(onlyFailed.html).toContain(`data-delivery="${delivery!.id}"`);
    expect((await browser.get(`${WEBHOOKS}/${id}?status=sent`)).html).not.toContain(
      `data-delivery="${delivery!.id}"`,
    );

    const replayed = await browser.post(replayAction);
    expect(replayed.status).toBe(303);
    expect(replayed.location).toBe(`${WEBHOOKS}/${id}?notice=replayed`);
    const page = await browser.follow(replayed);
    expect(page.text).toContain('The delivery is queued again, under the same webhook-id.');
    expect(page.text).toMatch(/webhook\.test Pending 0/);
    expect(page.html).not.toContain(`action="${replayAction}"`);

    // Twice: no longer failed, said so.
    const twice = await browser.post(replayAction);
    expect(twice.location).toBe(`${WEBHOOKS}/${id}?notice=not_replayable`);
    expect((await browser.follow(twice)).text).toContain('Only a failed delivery can be replayed');
    for (const other of [crypto.randomUUID(), 'nope']) {
      const gone = await browser.post(`${WEBHOOKS}/${id}/deliveries/${other}/replay`);
      expect(gone.location).toBe(`${WEBHOOKS}/${id}?notice=delivery_gone`);
    }

    const before = sentTo(url).length;
    await dispatch();
    const [last] = sentTo(url).slice(before);
    expect(last?.headers['webhook-id']).toBe(delivery!.webhookId);
    expect((await browser.get(`${WEBHOOKS}/${id}`)).text).toMatch(/webhook\.test Sent 1 HTTP 204/);
  });

  it('rotating shows the new secret once and says until when the old one signs too', async () => {
    const { browser } = await signedInWithMfa();
    const { id, secret } = await addEndpoint(browser);
    const rotated = await browser.post(`${WEBHOOKS}/${id}/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.text).toContain('New signing secret');
    expect(rotated.text).toContain('Copy the signing secret now');
    expect(rotated.text).toContain('The previous secret also signs every delivery until');
    const fresh = /<code id="webhook-secret" class="secret">(whsec_[^<]+)<\/code>/.exec(rotated.html)?.[1];
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(secret);
    expect(rotated.html).not.toContain(secret);
    const page = await browser.get(`${WEBHOOKS}/${id}`);
    expect(page.html).not.toContain('whsec_');
    expect(page.text).toContain('The previous secret also signs until');
  });

  it('delete asks first (a page without JavaScript), then removes the endpoint and its log', async () => {
    const { browser } = await signedInWithMfa();
    const { id, url } = await addEndpoint(browser);
    await browser.post(`${WEBHOOKS}/${id}/test`);

    const endpoint = await browser.get(`${WEBHOOKS}/${id}`);
    expect(endpoint.html).toContain(`href="${WEBHOOKS}/${id}/delete" data-dialog="confirm-delete"`);
    const confirm = await browser.get(`${WEBHOOKS}/${id}/delete`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Delete this endpoint?');
    expect(confirm.text).toContain(url);
    expect(confirm.html).toContain(`action="${WEBHOOKS}/${id}/delete"`);

    const deleted = await browser.post(`${WEBHOOKS}/${id}/delete`);
    expect(deleted.status).toBe(303);
    expect(deleted.location).toBe(`${WEBHOOKS}?notice=deleted`);
    const list = await browser.follow(deleted);
    expect(list.text).toContain('The endpoint was deleted with its delivery log.');
    expect(list.text).not.toContain(url);
    await expect(lk.webhooks.getEndpoint(id)).rejects.toMatchObject({ code: 'not_found' });

    // Gone: every action says so on the list, never a 500.
    for (const action of ['enable', 'disable', 'test', 'rotate', 'delete']) {
      const page = await browser.post(`${WEBHOOKS}/${id}/${action}`);
      expect(page.status, action).toBe(303);
      expect(page.location).toBe(`${WEBHOOKS}?notice=gone`);
    }
    expect((await browser.get(`${WEBHOOKS}/${id}/delete`)).location).toBe(`${WEBHOOKS}?notice=gone`);
    expect((await browser.get(`${WEBHOOKS}/${id}`)).status).toBe(404);
    expect((await browser.post(`${WEBHOOKS}/not-a-uuid/disable`)).location).toBe(`${WEBHOOKS}?notice=gone`);
  });

  it('the delivery log pages newest first; a forged cursor or state is a 400 page', async () => {
    const { browser } = await signedInWithMfa();
    const { id } = await addEndpoint(browser);
    for (let i = 0; i < 26; i++) {
      await lk.webhooks.sendTest(id);
      lk.clock.advance(1000);
    }
    const first = await browser.get(`${WEBHOOKS}/${id}`);
    expect(first.html.match(/data-delivery="/g)).toHaveLength(25);
    const older = /href="([^"]*cursor=[^"]*)"/.exec(first.html)?.[1]?.replaceAll('&amp;', '&');
    expect(older).toBeTruthy();
    const second = await browser.get(older!);
    expect(second.status).toBe(200);
    expect(second.html.match(/data-delivery="/g)).toHaveLength(1);
    expect(second.html).not.toContain('Older deliveries');

    for (const query of [
      'cursor=AAAA',
      'cursor=%3Cscript%3E',
      'status=exploded',
      `cursor=${'A'.repeat(200)}`,
    ]) {
      const page = await browser.get(`${WEBHOOKS}/${id}?${query}`);
      expect(page.status, query).toBe(400);
      expect(page.text).toContain('That link to the delivery log is not valid.');
    }
  });
});

describe('what an operator typed comes back escaped', () => {
  it('a hostile description and URL are text on every page, never markup', async () => {
    const { browser } = await signedInWithMfa();
    const url = `${uniqueUrl('escape')}?a=1&b=<x>&c="q"`;
    const added = await addEndpoint(browser, { url, description: HOSTILE });
    const stored = await lk.webhooks.getEndpoint(added.id);
    expect(stored.description).toBe(HOSTILE);

    const pages = [
      added.page,
      await browser.get(WEBHOOKS),
      await browser.get(`${WEBHOOKS}/${added.id}`),
      await browser.get(`${WEBHOOKS}/${added.id}/delete`),
    ];
    for (const page of pages) {
      expect(page.html).not.toContain('<script>alert(1)</script>');
      expect(page.html).not.toContain('<img src=x');
      expect(page.html).not.toContain('<x>');
      expect(page.text).toContain(stored.url);
    }
    expect(pages[1]!.text).toContain(HOSTILE);
    expect(pages[1]!.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(pages[2]!.text).toContain(HOSTILE);

    // A refused form echoes the hostile values back as values, escaped.
    const refused = await browser.post(WEBHOOKS, {
      url: `http://127.0.0.1/${HOSTILE}`,
      scope: 'all',
      description: HOSTILE,
    });
    expect(refused.status).toBe(400);
    expect(refused.html).not.toContain('<script>alert(1)</script>');
    expect(refused.html).toContain('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
