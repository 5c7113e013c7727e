import { serve } from '@hono/node-server';
import { createVerifier } from '@latchkey/verify';
import { createResourceServer } from './app.js';

// LATCHKEY_ISSUER is the Latchkey server's ISSUER; LATCHKEY_AUDIENCE its AUDIENCE.
const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000';
const verifier = createVerifier({
  issuer,
  audience: process.env.LATCHKEY_AUDIENCE ?? issuer,
  revocation: { maxDelaySeconds: 30, onError: (error) => console.warn('revocation feed:', String(error)) },
});
await verifier.refreshRevocations();

const port = Number(process.env.PORT ?? 4000);
serve({ fetch: createResourceServer(verifier).fetch, port }, () => {
  console.log(`resource server on http://localhost:${port}, trusting ${issuer}`);
});
