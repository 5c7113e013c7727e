import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { runPrimary, workerCount } from './cluster.js';
import { loadDrizzleThroughRequire } from './drizzle-commonjs.js';
import { loadConfigOrExit, warnUnknownVariables } from './node-config.js';
import { relaunchWithFlags } from './node-flags.js';

const config = loadConfigOrExit(process.env, { warn: false });
// From Node 22.15, V8 settings that count only at launch: this process starts again with them
// (node-flags.ts), before it forks or imports anything of the server, and says its warnings then.
relaunchWithFlags(config);
warnUnknownVariables(process.env);
// `serve --workers N` (WORKERS): this process is the primary; it forks N processes of this
// file, which serve (src/entry/cluster.ts), and never gets past this line. It has imported
// only the configuration and the cluster's own modules, not the server: its memory is its own
// (src/entry/cluster.ts prepares the database in a child process that then exits).
if (cluster.isPrimary && workerCount(config) > 1) await runPrimary(config, fileURLToPath(import.meta.url));
// Before the server's first import of drizzle-orm: its CommonJS build (drizzle-commonjs.ts).
loadDrizzleThroughRequire();
const { serveNode } = await import('./node-server.js');
await serveNode(config);
