import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type AccessTokenClaims,
  authenticateRequest,
  BearerError,
  bearerToken,
  errorResponseFor,
  type Verifier,
} from '@latchkey/verify';
import { type RawData, WebSocket, WebSocketServer } from 'ws';

/**
 * A WebSocket endpoint that trusts Latchkey access tokens:
 *
 * - the token is checked at the HTTP upgrade: a missing, bad, expired or revoked token gets
 *   a plain HTTP 401 with the RFC 6750 `WWW-Authenticate` challenge, and no socket is opened;
 * - an open socket is closed when its session is revoked (`sweep()` refetches Latchkey's
 *   revoked-sessions feed and re-checks every socket: server.ts runs it every 15 s) and when
 *   its access token expires (a timer per socket), unless the client sent a newer token.
 *
 * Browsers cannot set headers on a WebSocket, so the token travels in the one header they
 * do let a page set, `Sec-WebSocket-Protocol`:
 * `new WebSocket(url, ['latchkey.v1', 'latchkey.bearer.' + accessToken])`. The server picks
 * `latchkey.v1`, never echoing the token. Clients that can set headers (Node, mobile) may send
 * `Authorization: Bearer …` instead. Never a URL: URLs end up in access logs and proxies.
 */

/** The subprotocol the server selects (a browser fails the handshake unless one it offered is picked). */
export const SUBPROTOCOL = 'latchkey.v1';
/** The offered "protocol" that carries the access token: this prefix, then the JWT. */
export const TOKEN_PROTOCOL_PREFIX = 'latchkey.bearer.';
/** Close codes (4000–4999 are the application's): reconnect with a fresh token, or sign in again. */
export const CLOSE_TOKEN_EXPIRED = 4001;
export const CLOSE_SESSION_ENDED = 4401;

export interface WebSocketOptions {
  verifier: Verifier;
  /** The path of the endpoint (default `/ws`); other upgrades get 404. */
  path?: string;
  /**
   * Browser origins allowed to connect; empty (default): any. Tokens are not cookies, so a
   * foreign page cannot connect as a user without the token; this is defence in depth.
   */
  allowedOrigins?: string[];
  /** Largest message accepted, bytes (default 4 KiB); a bigger one closes the socket (1009). */
  maxPayload?: number;
  /** Open sockets at most (default 1000); more get 503 at the upgrade. */
  maxConnections?: number;
}

interface Connection {
  token: string;
  claims: Readonly<AccessTokenClaims>;
  expiryTimer?: ReturnType<typeof setTimeout>;
}

/** The token of an upgrade request: its `Authorization` header, else the offered subprotocols. */
function tokenOf(request: IncomingMessage): string | undefined {
  const { authorization } = request.headers;
  if (authorization) return authorization;
  const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((value) => value.trim());
  const carrying = offered.filter((value) => value.startsWith(TOKEN_PROTOCOL_PREFIX));
  if (carrying.length !== 1 || !offered.includes(SUBPROTOCOL)) return undefined;
  return `Bearer ${carrying[0]!.slice(TOKEN_PROTOCOL_PREFIX.length)}`;
}

/** An HTTP answer on the raw socket of a refused upgrade, then the socket is closed. */
function refuse(socket: Duplex, status: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  const all = { ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  for (const [name, value] of Object.entries(all)) lines.push(`${name}: ${value}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

const jsonError = (error: string, description: string) =>
  JSON.stringify({ error, error_description: description });
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function attachWebSocketServer(server: Server, options: WebSocketOptions) {
  const { verifier } = options;
  const path = options.path ?? '/ws';
  const allowedOrigins = options.allowedOrigins ?? [];
  const maxConnections = options.maxConnections ?? 1000;
  const connections = new Map<WebSocket, Connection>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload ?? 4096,
    // Only ever our own protocol name: the token must not come back in the response.
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const close = (socket: WebSocket, code: number, reason: string) => {
    const connection = connections.get(socket);
    if (connection?.expiryTimer) clearTimeout(connection.expiryTimer);
    connections.delete(socket);
    socket.close(code, reason);
  };

  /** Closes the socket if its token has expired, its session was revoked or its key withdrawn. */
  async function check(socket: WebSocket): Promise<void> {
    const connection = connections.get(socket);
    if (!connection) return;
    if (verifier.now().getTime() >= connection.claims.exp * 1000) {
      close(socket, CLOSE_TOKEN_EXPIRED, 'access token expired');
      return;
    }
    try {
      await verifier.verify(connection.token);
    } catch (error) {
      // Latchkey unreachable (VerifierUnavailableError) is not the user's fault: keep the
      // socket until its token expires, as the kit keeps the last revocation list.
      if (error instanceof BearerError && connections.get(socket) === connection)
        close(socket, CLOSE_SESSION_ENDED, 'session ended');
    }
  }

  /** Closes the socket when its token expires (checked by the verifier's clock). */
  function scheduleExpiry(socket: WebSocket, connection: Connection): void {
    if (connection.expiryTimer) clearTimeout(connection.expiryTimer);
    const delay = Math.max(0, connection.claims.exp * 1000 - verifier.now().getTime());
    connection.expiryTimer = setTimeout(() => void check(socket), Math.min(delay, 2 ** 31 - 1));
    connection.expiryTimer.unref?.();
  }

  async function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      refuse(socket, 404, JSON_HEADERS, jsonError('not_found', 'No WebSocket endpoint here'));
      return;
    }
    const origin = request.headers.origin;
    if (origin && allowedOrigins.length > 0 && !allowedOrigins.includes(origin)) {
      refuse(socket, 403, JSON_HEADERS, jsonError('invalid_origin', 'This origin may not connect'));
      return;
    }
    if (connections.size >= maxConnections) {
      refuse(socket, 503, { ...JSON_HEADERS, 'retry-after': '5' }, jsonError('busy', 'Too many connections'));
      return;
    }
    let claims: Readonly<AccessTokenClaims>;
    const authorization = tokenOf(request);
    try {
      claims = await authenticateRequest(verifier, authorization);
    } catch (error) {
      const refusal = errorResponseFor(error);
      if (refusal) refuse(socket, refusal.status, refusal.headers, refusal.body);
      else refuse(socket, 500, JSON_HEADERS, jsonError('server_error', 'Something went wrong'));
      return;
    }
    if (socket.destroyed) return;
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection: Connection = { token: bearerToken(authorization)!, claims };
      connections.set(ws, connection);
      scheduleExpiry(ws, connection);
      ws.on('close', () => {
        if (connection.expiryTimer) clearTimeout(connection.expiryTimer);
        connections.delete(ws);
      });
      ws.on('error', () => ws.terminate());
      ws.on('message', (data, isBinary) => void onMessage(ws, data, isBinary));
      send(ws, { type: 'welcome', user_id: claims.sub, session_id: claims.sid, expires_at: claims.exp });
    });
  }

  const send = (ws: WebSocket, message: unknown) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  };

  /**
   * Messages are JSON: `{"type":"echo","data":…}` is answered in kind, and
   * `{"type":"renew","access_token":"…"}` (a newer token of the same user, after a refresh)
   * keeps the socket open past the old token's expiry.
   */
  async function onMessage(ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> {
    const connection = connections.get(ws);
    if (!connection) return;
    let message: { type?: unknown; data?: unknown; access_token?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      message = JSON.parse(data.toString());
      if (typeof message !== 'object' || message === null) throw new Error('not an object');
    } catch {
      send(ws, { type: 'error', error: 'invalid_message', error_description: 'Send a JSON object' });
      return;
    }
    if (message.type === 'echo') {
      send(ws, { type: 'echo', data: message.data ?? null });
    } else if (message.type === 'renew' && typeof message.access_token === 'string') {
      try {
        const claims = await authenticateRequest(verifier, `Bearer ${message.access_token}`);
        if (claims.sub !== connection.claims.sub) throw new BearerError('invalid_token', 'Another user');
        connection.token = message.access_token;
        connection.claims = claims;
        scheduleExpiry(ws, connection);
        send(ws, { type: 'renewed', expires_at: claims.exp });
      } catch (error) {
        const refusal = errorResponseFor(error);
        send(ws, { type: 'error', ...(refusal ? JSON.parse(refusal.body) : { error: 'server_error' }) });
      }
    } else {
      send(ws, { type: 'error', error: 'invalid_message', error_description: 'Unknown message type' });
    }
  }

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) =>
    void upgrade(request, socket, head);
  server.on('upgrade', onUpgrade);

  return {
    /** Refetches the revocation feed, then re-checks every open socket (run it on a timer). */
    async sweep(): Promise<void> {
      await verifier.refreshRevocations();
      await Promise.all([...connections.keys()].map(check));
    },
    get connections(): number {
      return connections.size;
    },
    /** Closes every socket (1001 going away) and stops accepting upgrades. */
    close(): void {
      server.off('upgrade', onUpgrade);
      for (const socket of [...connections.keys()]) close(socket, 1001, 'server shutting down');
      wss.close();
    },
  };
}
