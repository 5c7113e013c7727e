import { serve } from '@hono/node-server';
import { Hono } from 'hono';

/**
 * The floor under the refresh block's CPU goal: the HTTP exchange of a refresh on the stack the
 * server is built on (Hono on @hono/node-server), with none of the work. POST /v1/auth/refresh
 * reads the JSON body and answers a token pair of the real one's size (FLOOR_ACCESS_TOKEN_LENGTH,
 * taken from a real answer by the bench), its refresh token new each time so the load's
 * rotation chains go on; no middleware, no database, no signature, no hash. GET /health: 200.
 */
const accessToken = 'a'.repeat(Number(process.env.FLOOR_ACCESS_TOKEN_LENGTH) || 600);
let issued = 0;
const app = new Hono();
app.get('/health', (c) => c.json({ status: 'ok' }));
app.post('/v1/auth/refresh', async (c) => {
  const { refresh_token: presented } = await c.req.json();
  issued++;
  return c.json({
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: `${String(presented).slice(0, 8)}${String(issued).padStart(35, '0')}`,
    refresh_token_expires_in: 2592000,
  });
});
const server = serve({
  fetch: app.fetch,
  port: Number(process.env.PORT),
  hostname: process.env.HOST ?? '127.0.0.1',
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
