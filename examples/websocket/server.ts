import { createServer } from 'node:http';
import { createVerifier } from '@latchkey/verify';
import { attachWebSocketServer } from './app.js';

// Every variable this example reads (README.md): LATCHKEY_ISSUER, LATCHKEY_AUDIENCE, HOST, PORT,
// ALLOWED_ORIGINS, REVOCATION_CHECK_SECONDS.
const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000';
const verifier = createVerifier({
  issuer, // the Latchkey server's ISSUER
  audience: process.env.LATCHKEY_AUDIENCE ?? issuer, // its AUDIENCE (which defaults to ISSUER)
  revocation: { maxDelaySeconds: 30, onError: (error) => console.warn('revocation feed:', String(error)) },
});
await verifier.refreshRevocations();

const integer = (name: string, fallback: number, min: number, max: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be a whole number from ${min} to ${max}, not ${process.env[name]}`);
  return value;
};
const host = process.env.HOST ?? '127.0.0.1';
const port = integer('PORT', 4000, 0, 65535);
const checkSeconds = integer('REVOCATION_CHECK_SECONDS', 15, 1, 3600);
const allowedOrigins = (process.env.ALLOWED_ORIGINS ?? '')
  .split(',')
  .map((origin) => origin.trim())
  .filter(Boolean);

// Plain HTTP requests get a health check or a 426; the WebSocket endpoint is /ws.
const server = createServer((request, response) => {
  const ok = request.url === '/health';
  response.writeHead(ok ? 200 : 426, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(ok ? { status: 'ok' } : { error: 'upgrade_required' }));
});
const sockets = attachWebSocketServer(server, { verifier, allowedOrigins });

// Revoked sessions: refetch the feed and re-check every open socket.
const timer = setInterval(() => {
  sockets.sweep().catch((error) => console.warn('sweep:', String(error)));
}, checkSeconds * 1000);

server.listen(port, host, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  console.log(`websocket server on ws://${host}:${bound}/ws, trusting ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    clearInterval(timer);
    sockets.close();
    server.close();
  });
