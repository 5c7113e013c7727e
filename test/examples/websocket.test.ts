import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@latchkey/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  attachWebSocketServer,
  CLOSE_SESSION_ENDED,
  CLOSE_TOKEN_EXPIRED,
  SUBPROTOCOL,
  TOKEN_PROTOCOL_PREFIX,
} from '../../examples/websocket/app.js';
import { appFetch, call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

/**
 * examples/websocket against the real Latchkey app: the token is checked at the upgrade (401
 * before any socket), and an open socket is closed when its session is revoked (at the next
 * sweep, which refetches the revocation feed) or its token expires. Time is the injected
 * clock's; the sweep is called here instead of waiting for server.ts's timer.
 */
const database = useDatabase();
let lk: Latchkey;
let server: Server;
let sockets: ReturnType<typeof attachWebSocketServer>;
let url: string;

beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  const verifier = createVerifier({
    issuer: lk.config.issuer,
    audience: lk.config.audience,
    fetch: appFetch(lk.app),
    now: () => lk.clock.now().getTime(),
  });
  server = createServer((_request, response) => response.writeHead(426).end());
  sockets = attachWebSocketServer(server, { verifier, allowedOrigins: ['https://app.example.com'] });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
});

afterAll(async () => {
  sockets?.close();
  await new Promise((resolve) => server?.close(resolve));
});

interface Open {
  socket: WebSocket;
  welcome: { type: string; user_id: string; session_id: string; expires_at: number };
  next(): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Connects; resolves with the welcome message, or rejects with the HTTP refusal of the upgrade. */
function connect(protocols: string[], headers: Record<string, string> = {}): Promise<Open> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { headers });
    const queue: Record<string, unknown>[] = [];
    const waiting: ((message: Record<string, unknown>) => void)[] = [];
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      socket.once('close', (code, reason) => done({ code, reason: reason.toString() })),
    );
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'welcome') {
        resolve({
          socket,
          welcome: message,
          closed,
          next: () => new Promise((take) => (queue.length ? take(queue.shift()!) : waiting.push(take))),
        });
        return;
      }
      const taker = waiting.shift();
      if (taker) taker(message);
      else queue.push(message);
    });
    socket.once('unexpected-response', (_request, response: IncomingMessage) => {
      let body = '';
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () =>
        reject(
          Object.assign(new Error(`refused: ${response.statusCode}`), {
            status: response.statusCode,
            challenge: response.headers['www-authenticate'],
            body: body ? JSON.parse(body) : undefined,
          }),
        ),
      );
    });
    socket.once('error', reject);
  });
}

const withToken = (token: string) => [SUBPROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`];

describe('examples/websocket', () => {
  it('accepts a token in Sec-WebSocket-Protocol (selecting only latchkey.v1) or in Authorization', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);

    const browserStyle = await connect(withToken(pair.access_token), { origin: 'https://app.example.com' });
    expect(browserStyle.socket.protocol).toBe(SUBPROTOCOL);
    expect(browserStyle.welcome).toMatchObject({ type: 'welcome', user_id: id, session_id: pair.session_id });
    browserStyle.socket.send(JSON.stringify({ type: 'echo', data: 'hello' }));
    expect(await browserStyle.next()).toEqual({ type: 'echo', data: 'hello' });
    browserStyle.socket.send('not json');
    expect(await browserStyle.next()).toMatchObject({ type: 'error', error: 'invalid_message' });

    const nodeStyle = await connect([], { authorization: `Bearer ${pair.access_token}` });
    expect(nodeStyle.welcome.user_id).toBe(id);
    expect(sockets.connections).toBe(2);
    browserStyle.socket.close();
    nodeStyle.socket.close();
    await Promise.all([browserStyle.closed, nodeStyle.closed]);
  });

  it('refuses a missing, malformed or forged token, and a foreign origin, with HTTP errors before the upgrade', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const before = sockets.connections;

    await expect(connect([SUBPROTOCOL])).rejects.toMatchObject({
      status: 401,
      challenge: expect.stringMatching(/^Bearer error="invalid_token"/),
      body: { error: 'invalid_token' },
    });
    await expect(connect(withToken('not-a-jwt'))).rejects.toMatchObject({ status: 401 });
    const [header, body] = pair.access_token.split('.');
    await expect(connect(withToken(`${header}.${body}.${'A'.repeat(86)}`))).rejects.toMatchObject({
      status: 401,
      challenge: expect.stringMatching(/^Bearer error="invalid_token"/),
    });
    // The token without the protocol the server selects: a browser would fail the handshake.
    await expect(connect([`${TOKEN_PROTOCOL_PREFIX}${pair.access_token}`])).rejects.toMatchObject({
      status: 401,
    });
    await expect(
      connect(withToken(pair.access_token), { origin: 'https://evil.example.net' }),
    ).rejects.toMatchObject({ status: 403, body: { error: 'invalid_origin' } });
    expect(sockets.connections).toBe(before);
  });

  it('closes the socket when its session is revoked, at the sweep after the revocation', async () => {
    const { email } = await registerUser(lk.app);
    const phone = await login(lk.app, email);
    const laptop = await login(lk.app, email);
    const open = await connect(withToken(phone.access_token));
    const other = await connect(withToken(laptop.access_token));

    // Nothing revoked yet: a sweep keeps both.
    await sockets.sweep();
    open.socket.send(JSON.stringify({ type: 'echo', data: 1 }));
    expect(await open.next()).toEqual({ type: 'echo', data: 1 });

    // The laptop signs the phone out (DELETE /v1/sessions/:id).
    const revoked = await call(lk.app, `/v1/sessions/${phone.session_id}`, {
      method: 'DELETE',
      token: laptop.access_token,
    });
    expect(revoked.status).toBe(204);
    await sockets.sweep();
    expect(await open.closed).toEqual({ code: CLOSE_SESSION_ENDED, reason: 'session ended' });

    // The laptop's socket goes on, and the phone's token can no longer open one.
    other.socket.send(JSON.stringify({ type: 'echo', data: 2 }));
    expect(await other.next()).toEqual({ type: 'echo', data: 2 });
    await expect(connect(withToken(phone.access_token))).rejects.toMatchObject({ status: 401 });
    other.socket.close();
    await other.closed;
  });

  it('closes the socket when its access token expires, unless the client sent a newer one', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const open = await connect(withToken(pair.access_token));
    const lifetime = open.welcome.expires_at * 1000 - lk.clock.now().getTime();
    expect(lifetime).toBeGreaterThan(60_000);

    // A minute before expiry the app refreshes and hands the socket the new token.
    lk.clock.advance(lifetime - 60_000);
    const renewed = (await refresh(lk.app, pair.refresh_token)).json;
    open.socket.send(JSON.stringify({ type: 'renew', access_token: renewed.access_token }));
    expect(await open.next()).toMatchObject({ type: 'renewed' });
    // Another user's token is not a renewal.
    const stranger = await login(lk.app, (await registerUser(lk.app)).email);
    open.socket.send(JSON.stringify({ type: 'renew', access_token: stranger.access_token }));
    expect(await open.next()).toMatchObject({ type: 'error', error: 'invalid_token' });

    lk.clock.advance(120_000); // past the first token's exp: the renewed one still holds
    await sockets.sweep();
    open.socket.send(JSON.stringify({ type: 'echo', data: id }));
    expect(await open.next()).toEqual({ type: 'echo', data: id });

    lk.clock.advance(lifetime); // past the renewed token's exp too
    await sockets.sweep();
    expect(await open.closed).toEqual({ code: CLOSE_TOKEN_EXPIRED, reason: 'access token expired' });
  });
});
