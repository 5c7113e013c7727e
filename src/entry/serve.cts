// `npm run serve`: sizes libuv's thread pool before the server's first import (thread-pool.ts),
// then runs the server (node.ts).
// `require` of an ES module is synchronous (Node 20.19 and later): nothing reaches the pool.
const { sizeThreadPool } = require('./thread-pool.js') as { sizeThreadPool(): void };

sizeThreadPool();
void import('./node.js');
