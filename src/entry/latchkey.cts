#!/usr/bin/env node
// The package's bin (`latchkey`): sizes libuv's thread pool before the CLI's first import
// (thread-pool.ts), then runs the CLI (cli.ts).
// `require` of an ES module is synchronous (Node 20.19 and later): nothing reaches the pool.
const { sizeThreadPool } = require('./thread-pool.js') as { sizeThreadPool(): void };

sizeThreadPool();
void import('./cli.js');
