import { serve } from '@hono/node-server';
import { createVerifier } from '@latchkey/verify';
import { createResourceServer } from './app.js';

// Every variable this example reads (README.md): LATCHKEY_ISSUER, LATCHKEY_AUDIENCE, HOST, PORT.
const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000';
const verifier = createVerifier({
  issuer, // the Latchkey server's ISSUER
  audience: process.env.LATCHKEY_AUDIENCE ?? issuer, // its AUDIENCE (which defaults to ISSUER)
  revocation: { maxDelaySeconds: 30, onError: (error) => console.warn('revocation feed:', String(error)) },
});
// Not fatal when Latchkey is down at start: the feed is fetched again on traffic.
await verifier.refreshRevocations();

const hostname = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 4000);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error(`PORT must be a port number, not ${process.env.PORT}`);
const server = serve({ fetch: createResourceServer(verifier).fetch, hostname, port }, (info) => {
  console.log(`hono resource server on http://${hostname}:${info.port}, trusting ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
