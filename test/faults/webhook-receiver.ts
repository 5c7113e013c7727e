import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { reservedPort } from './mail-smtp.js';

/**
 * The webhook receiver of the fault test (issue #18): an HTTP server that verifies every
 * delivery with the `standardwebhooks` package and records it, on one fixed port for the whole
 * test (below the ephemeral range, see mail-smtp.ts), so that the endpoint's URL stays the
 * same while the receiver goes down and comes back:
 *
 * - down: nothing listens on the port (connection refused);
 * - `fail`: every delivery is answered 500 (recorded, verified);
 * - `hang`: the request is read in full and never answered, so the send stays in flight (and
 *   its claim held) until the sender's timeout: the case that leaves claims in a process we
 *   kill. Such a delivery did reach the receiver, but nobody told the sender;
 * - `accept`: every delivery is answered 200.
 *
 * A signature that does not verify (or a timestamp more than 5 minutes from the real clock:
 * the library's own check, the servers here run on the real clock) is answered 400 whatever
 * the mode, and recorded with `verified: false`.
 */

export type ReceiverMode = 'fail' | 'hang' | 'accept';

/** One request as it arrived. */
export interface Delivery {
  /** The `webhook-id` header: the delivery's id, stable across retries. */
  id: string;
  body: string;
  verified: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: payloads are checked field by field
  payload: any;
  /** The status answered, or null for a request held in `hang` mode (never answered). */
  answered: number | null;
}

export class FaultReceiver {
  /** Every request that arrived in full, in order, whatever the mode. */
  readonly deliveries: Delivery[] = [];
  private server: Server | undefined;
  private mode: ReceiverMode = 'accept';
  private secret: string | undefined;
  /** Requests held in `hang` mode whose connection is still open: sends in flight. */
  private readonly held = new Set<ServerResponse>();

  private constructor(readonly port: number) {}

  /** A receiver on a port of its own, down (nothing listens) until `up`. */
  static async reserve(): Promise<FaultReceiver> {
    return new FaultReceiver(await reservedPort());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Held requests whose sender has not hung up. */
  get heldRequests(): number {
    return this.held.size;
  }

  /** The endpoint's signing secret (`whsec_…`), shown once at registration. */
  setSecret(secret: string): void {
    this.secret = secret;
  }

  setMode(mode: ReceiverMode): void {
    this.mode = mode;
  }

  async up(mode: ReceiverMode): Promise<void> {
    if (this.server) throw new Error('the receiver is already up');
    this.mode = mode;
    const server = createServer((request, response) => this.receive(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening (connection refused from now on) and drops every open connection. */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    this.held.clear();
  }

  private receive(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The sender died in the middle of the request: nothing arrived.
    request.on('error', () => {});
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(request.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
      };
      let verified = false;
      let payload: unknown;
      try {
        if (!this.secret) throw new Error('no secret yet');
        payload = new Webhook(this.secret).verify(body, headers);
        verified = true;
      } catch {
        payload = undefined;
      }
      const mode = this.mode;
      const answer = !verified ? 400 : mode === 'fail' ? 500 : mode === 'accept' ? 200 : null;
      this.deliveries.push({ id: headers['webhook-id'], body, verified, payload, answered: answer });
      if (answer === null) {
        this.held.add(response);
        response.on('close', () => this.held.delete(response));
        return;
      }
      response.statusCode = answer;
      response.end(answer === 200 ? 'ok' : 'no');
    });
  }
}
