import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSite } from './site.js';

// Every variable this example reads (README.md): LATCHKEY_URL, HOST, PORT.
const here = dirname(fileURLToPath(import.meta.url));
const latchkeyUrl = process.env.LATCHKEY_URL ?? 'http://127.0.0.1:3000';
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 5173);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error(`PORT must be a port number, not ${process.env.PORT}`);

const server = createSite({
  latchkeyUrl,
  pageDir: join(here, 'page'),
  bundlePath: join(here, 'dist', 'main.js'),
});
server.listen(port, host, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  console.log(
    `SPA on http://${host === '127.0.0.1' ? 'localhost' : host}:${bound}, Latchkey at ${latchkeyUrl}`,
  );
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
