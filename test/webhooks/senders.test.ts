import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFetchWebhookSender } from '../../src/adapters/webhooks/fetch-sender.js';
import {
  checkWebhookHost,
  createNodeWebhookSender,
  type ResolvedAddress,
  type WebhookLookup,
} from '../../src/adapters/webhooks/node-sender.js';
import type { WebhookRequest, WebhookSender } from '../../src/ports/webhooks.js';

/**
 * Issue #18, Safety: the two senders against a real receiver on a free port of 127.0.0.1 (no
 * mock of the network). The receiver records every connection and every request, so "refused"
 * means that nothing reached it, not only that the sender said so.
 */

interface Received {
  path: string;
  host: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

const received: Received[] = [];
let connections = 0;
/** Responses the tests leave hanging (slow receiver), ended in afterAll. */
const hanging: ServerResponse[] = [];
/** Bytes the endless body wrote before the sender hung up. */
const endless = { written: 0, closed: Promise.resolve() };

const SIGNATURE = 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=';

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const path = request.url ?? '';
    received.push({
      path,
      host: request.headers.host,
      headers: request.headers,
      body: Buffer.concat(chunks).toString(),
    });
    switch (path) {
      case '/ok':
        response.writeHead(204).end();
        return;
      case '/created':
        response.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      case '/fail':
        // An answer that echoes what it got, the signature included: never in the sender's error.
        response
          .writeHead(500)
          .end(`bad signature ${request.headers['webhook-signature']} for ${Buffer.concat(chunks)}`);
        return;
      case '/redirect':
        response.writeHead(302, { location: '/redirected' }).end();
        return;
      case '/slow':
        hanging.push(response); // never answers
        return;
      case '/slow-body':
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('accepted, and then nothing more');
        hanging.push(response);
        return;
      case '/huge': {
        // An endless body: a sender that read it all would never return.
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(16 * 1024, 0x61);
        endless.written = 0;
        endless.closed = new Promise((resolve) => response.on('close', () => resolve()));
        const pump = () => {
          while (!response.destroyed) {
            endless.written += chunk.length;
            if (!response.write(chunk)) return void response.once('drain', pump);
          }
        };
        pump();
        return;
      }
      default:
        response.writeHead(404).end();
    }
  });
});
server.on('connection', (socket: Socket) => {
  connections++;
  socket.on('error', () => {});
});

let port = 0;
let base = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  for (const response of hanging) response.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  received.length = 0;
  connections = 0;
});

const BODY = JSON.stringify({
  type: 'user.created',
  timestamp: '2026-12-03T12:00:00.000Z',
  data: { user_id: 'usr_1' },
});
const webhook = (url: string, timeoutMs = 5_000): WebhookRequest => ({
  url,
  headers: {
    'content-type': 'application/json',
    'webhook-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
    'webhook-timestamp': '1796126400',
    'webhook-signature': SIGNATURE,
  },
  body: BODY,
  timeoutMs,
});

/** A resolver that answers from a table, call after call (the last answer repeats). */
function fakeLookup(answers: Record<string, string[][]>): WebhookLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const list = answers[hostname];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const answer = list[Math.min(calls.filter((h) => h === hostname).length, list.length) - 1]!;
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

const USER_AGENT = 'Latchkey-Webhooks/0.1';

/** What both senders must do against a receiver they may reach (allowPrivate: development and tests). */
function answersOfTheReceiver(name: string, make: () => WebhookSender) {
  describe(`${name}: the receiver's answers`, () => {
    it('POSTs the body with the Standard Webhooks headers and the User-Agent; 2xx is success', async () => {
      const result = await make().send(webhook(`${base}/ok`));
      expect(result).toEqual({ ok: true, status: 204, latencyMs: expect.any(Number) });
      expect(received).toHaveLength(1);
      const [got] = received;
      expect(got?.body).toBe(BODY);
      expect(got?.headers).toMatchObject({
        'content-type': 'application/json',
        'webhook-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
        'webhook-timestamp': '1796126400',
        'webhook-signature': SIGNATURE,
        'user-agent': USER_AGENT,
        'content-length': String(Buffer.byteLength(BODY)),
      });
      expect((await make().send(webhook(`${base}/created`))).ok).toBe(true);
    });

    it('reports a 500 by its status, without the answer (which echoes the signature and the body)', async () => {
      const result = await make().send(webhook(`${base}/fail`));
      expect(result).toEqual({
        ok: false,
        status: 500,
        error: 'answered 500',
        latencyMs: expect.any(Number),
      });
      expect(JSON.stringify(result)).not.toContain(SIGNATURE);
    });

    it('does not follow a redirect: a 302 is a failure with its status, its target never asked', async () => {
      const result = await make().send(webhook(`${base}/redirect`));
      expect(result).toEqual({
        ok: false,
        status: 302,
        error: 'answered 302: redirect not followed',
        latencyMs: expect.any(Number),
      });
      expect(received.map((r) => r.path)).toEqual(['/redirect']);
    });

    it('gives up on a receiver that does not answer in time', async () => {
      const result = await make().send(webhook(`${base}/slow`, 300));
      expect(result).toEqual({
        ok: false,
        status: null,
        error: 'timeout after 300 ms',
        latencyMs: expect.any(Number),
      });
      expect(received.map((r) => r.path)).toEqual(['/slow']);
    });

    it('counts a 2xx whose body never ends: the answer had arrived', async () => {
      const result = await make().send(webhook(`${base}/slow-body`, 300));
      expect(result).toEqual({ ok: true, status: 200, latencyMs: expect.any(Number) });
    });

    it('reads an endless body only up to the cap, then hangs up', async () => {
      const result = await make().send(webhook(`${base}/huge`));
      expect(result).toEqual({ ok: true, status: 200, latencyMs: expect.any(Number) });
      // The receiver saw the connection close while it was still writing.
      await endless.closed;
      expect(endless.written).toBeGreaterThan(0);
    });

    it('reports a closed port as a connection failure, with no status', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const result = await make().send(webhook(`http://127.0.0.1:${closedPort}/ok`));
      expect(result).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/ECONNREFUSED/) });
      expect(result.ok === false && result.error.length).toBeLessThanOrEqual(300);
    });

    it('never puts a header value in an error, even one the runtime quotes', async () => {
      const request = webhook(`${base}/ok`);
      request.headers['webhook-signature'] = `${SIGNATURE}\r\nx-injected: 1`;
      const result = await make().send(request);
      expect(result.ok).toBe(false);
      expect(JSON.stringify(result)).not.toContain('K5oZfzN95Z9UVu1');
      expect(received).toHaveLength(0);
    });
  });
}

answersOfTheReceiver('the node sender', () =>
  createNodeWebhookSender({ allowPrivate: true, userAgent: USER_AGENT, maxResponseBytes: 64 * 1024 }),
);
answersOfTheReceiver('the fetch sender (Workers; here Node’s global fetch)', () =>
  createFetchWebhookSender({ allowPrivate: true, userAgent: USER_AGENT, maxResponseBytes: 64 * 1024 }),
);

describe('the node sender outside development (allowPrivate=false): nothing reaches the inside', () => {
  const production = (lookup?: WebhookLookup) =>
    createNodeWebhookSender({ allowPrivate: false, userAgent: USER_AGENT, ...(lookup ? { lookup } : {}) });

  it('refuses a URL to 127.0.0.1, and to every other spelling of loopback', async () => {
    for (const url of [
      `${base}/ok`,
      `http://127.1:${port}/ok`,
      `http://2130706433:${port}/ok`,
      `http://[::ffff:127.0.0.1]:${port}/ok`,
      `http://[::1]:${port}/ok`,
      `http://0.0.0.0:${port}/ok`,
    ]) {
      const result = await production().send(webhook(url));
      expect(result, url).toMatchObject({
        ok: false,
        status: null,
        error: expect.stringMatching(/^address not allowed: /),
      });
    }
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('refuses localhost by its name, before any lookup', async () => {
    const lookup = fakeLookup({});
    const result = await production(lookup).send(webhook(`http://localhost:${port}/ok`));
    expect(result).toMatchObject({
      ok: false,
      status: null,
      error: 'host not allowed: localhost (a local name)',
    });
    expect(lookup.calls).toEqual([]);
    expect(connections).toBe(0);
  });

  it('refuses a name that resolves to 127.0.0.1, at the connection', async () => {
    const lookup = fakeLookup({ 'rebind.example.com': [['127.0.0.1']] });
    const result = await production(lookup).send(webhook(`http://rebind.example.com:${port}/ok`));
    expect(result).toMatchObject({
      ok: false,
      status: null,
      error: 'address not allowed: 127.0.0.1 (rebind.example.com)',
    });
    expect(lookup.calls).toEqual(['rebind.example.com']);
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('refuses a name with a public and a private address: any inside address is enough', async () => {
    for (const answer of [
      ['93.184.215.14', '127.0.0.1'],
      ['2606:4700:4700::1111', '::ffff:127.0.0.1'],
      ['93.184.215.14', '169.254.169.254'],
    ]) {
      const lookup = fakeLookup({ 'mixed.example.com': [answer] });
      const result = await production(lookup).send(webhook(`http://mixed.example.com:${port}/ok`));
      expect(result, answer.join(' ')).toMatchObject({
        ok: false,
        error: expect.stringMatching(/^address not allowed: /),
      });
    }
    expect(connections).toBe(0);
  });

  it('DNS rebinding: public when checked at registration, 127.0.0.1 when sent — refused at connect', async () => {
    const lookup = fakeLookup({ 'rebind.example.com': [['93.184.215.14'], ['127.0.0.1']] });
    // The admin API's check at registration sees the public address…
    expect(await checkWebhookHost('rebind.example.com', { allowPrivate: false, lookup })).toEqual({
      ok: true,
      addresses: ['93.184.215.14'],
    });
    // …and the name answers 127.0.0.1 by the time the delivery connects.
    const result = await production(lookup).send(webhook(`http://rebind.example.com:${port}/ok`));
    expect(result).toMatchObject({
      ok: false,
      status: null,
      error: 'address not allowed: 127.0.0.1 (rebind.example.com)',
    });
    expect(lookup.calls).toEqual(['rebind.example.com', 'rebind.example.com']);
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('checkWebhookHost refuses a name that resolves inside, and reports one that does not resolve', async () => {
    const lookup = fakeLookup({ 'inside.example.com': [['10.0.0.7']] });
    expect(await checkWebhookHost('inside.example.com', { allowPrivate: false, lookup })).toEqual({
      ok: false,
      reason: 'address not allowed: 10.0.0.7 (inside.example.com)',
    });
    expect(await checkWebhookHost('inside.example.com', { allowPrivate: true, lookup })).toEqual({
      ok: true,
      addresses: ['10.0.0.7'],
    });
    expect(await checkWebhookHost('nowhere.example.com', { allowPrivate: false, lookup })).toEqual({
      ok: false,
      reason: 'DNS: name not found',
    });
  });

  it('reports a name that does not resolve as a DNS failure', async () => {
    const result = await production(fakeLookup({})).send(webhook(`http://nowhere.example.com:${port}/ok`));
    expect(result).toMatchObject({ ok: false, status: null, error: 'DNS: name not found' });
    expect(connections).toBe(0);
  });
});

describe('the node sender connects to the address it checked', () => {
  it('with allowPrivate, a name resolved by the injected lookup reaches that address, the URL’s name as Host', async () => {
    const lookup = fakeLookup({ 'receiver.test': [['127.0.0.1']] });
    const sender = createNodeWebhookSender({ allowPrivate: true, userAgent: USER_AGENT, lookup });
    const result = await sender.send(webhook(`http://receiver.test:${port}/ok`));
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(lookup.calls).toEqual(['receiver.test']);
    expect(received.map((r) => [r.path, r.host])).toEqual([['/ok', `receiver.test:${port}`]]);
  });

  it('with allowPrivate, localhost through the system resolver', async () => {
    const sender = createNodeWebhookSender({ allowPrivate: true, userAgent: USER_AGENT });
    const result = await sender.send(webhook(`http://localhost:${port}/ok`));
    expect(result).toMatchObject({ ok: true, status: 204 });
  });

  it('resolves again for every delivery (no pooled connection to an old address)', async () => {
    const lookup = fakeLookup({ 'receiver.test': [['127.0.0.1']] });
    const sender = createNodeWebhookSender({ allowPrivate: true, userAgent: USER_AGENT, lookup });
    await sender.send(webhook(`http://receiver.test:${port}/ok`));
    await sender.send(webhook(`http://receiver.test:${port}/ok`));
    expect(lookup.calls).toEqual(['receiver.test', 'receiver.test']);
    expect(connections).toBe(2);
  });
});

describe('the fetch sender outside development: the literal host is checked (the runtime resolves names)', () => {
  it('refuses loopback and private literals and local names without a connection', async () => {
    const sender = createFetchWebhookSender({ userAgent: USER_AGENT });
    for (const [url, error] of [
      [`${base}/ok`, 'address not allowed: 127.0.0.1'],
      [`http://[::ffff:127.0.0.1]:${port}/ok`, 'address not allowed: ::ffff:7f00:1'],
      [`http://169.254.169.254/latest/meta-data/`, 'address not allowed: 169.254.169.254'],
      [`http://localhost:${port}/ok`, 'host not allowed: localhost (a local name)'],
    ] as const) {
      expect(await sender.send(webhook(url)), url).toMatchObject({ ok: false, status: null, error });
    }
    expect(connections).toBe(0);
  });

  it('uses the fetch it is given (the Workers binding), with redirect manual and a signal', async () => {
    const seen: RequestInit[] = [];
    const sender = createFetchWebhookSender({
      userAgent: USER_AGENT,
      fetch: async (_url, init) => {
        seen.push(init ?? {});
        return new Response('ok', { status: 200 });
      },
    });
    expect(await sender.send(webhook('https://hooks.example.com/latchkey'))).toMatchObject({
      ok: true,
      status: 200,
    });
    expect(seen[0]).toMatchObject({ method: 'POST', redirect: 'manual', body: BODY });
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal);
  });
});
