// `npm run serve`: sizes libuv's thread pool before the server's first import (thread-pool.ts),
// then runs the server (node.ts).
// `require` of an ES module is synchronous (Node 20.19 and later): nothing reaches the pool.
const { sizeThreadPool, startPoolBelowEventLoop } = require('./thread-pool.js') as {
  sizeThreadPool(): void;
  startPoolBelowEventLoop(next: () => void): void;
};

sizeThreadPool();
// The pool's threads (password hashes) run below the event loop (thread-pool.ts).
startPoolBelowEventLoop(() => void import('./node.js'));
