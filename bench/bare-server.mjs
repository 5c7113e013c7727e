import { createServer } from 'node:http';

/**
 * Baseline for the start-up and memory blocks: the least a Node HTTP server started the way
 * the measured Latchkey is (plain node for the build, node --import tsx for BENCH_SERVER=tsx)
 * costs. GET /health answers 200 {"status":"ok"}; nothing else is loaded.
 */
const server = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(req.url === '/health' ? '{"status":"ok"}' : '{}');
});
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
