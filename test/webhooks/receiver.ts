import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What a receiver got: the verified payload, the headers, and whether the signature held. */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  verified: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: payloads are checked field by field
  payload: any;
}

/**
 * A real webhook receiver for tests (issue #18): an HTTP server on a free port of 127.0.0.1
 * that verifies every delivery with the `standardwebhooks` package and records it. `answer`
 * decides the status (200 by default); a refused signature (or a timestamp more than 5 minutes
 * from `now`) is answered 400 and recorded.
 */
export async function startReceiver(
  options: {
    secret?: () => string | undefined;
    /** The server's clock (a TestClock in tests): the library checks the timestamp is within 5 minutes of it. */
    now?: () => number;
  } = {},
) {
  const received: Received[] = [];
  let answer: (got: Received) => number = () => 200;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      const secret = options.secret?.();
      let verified = false;
      let payload: unknown;
      // verify() is synchronous: for its timestamp check, "now" is the server's clock meanwhile.
      const realNow = Date.now;
      if (options.now) Date.now = options.now;
      try {
        payload = secret ? new Webhook(secret).verify(body, headers) : JSON.parse(body);
        verified = secret !== undefined;
      } catch {
        payload = undefined;
      } finally {
        Date.now = realNow;
      }
      const got: Received = {
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
        verified,
        payload,
      };
      received.push(got);
      res.statusCode = secret && !verified ? 400 : answer(got);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    answerWith(decide: (got: Received) => number) {
      answer = decide;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
