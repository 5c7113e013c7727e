#!/usr/bin/env node
import { createRequire } from 'node:module';
import { type Command, parseCommandLine, USAGE } from './cli/args.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Writer } from './cli/output.js';
import { loadDrizzleThroughRequire } from './drizzle-commonjs.js';

/**
 * `latchkey <command>` (the package's bin; in a clone `npm run cli -- <command>`, `npm run
 * db:migrate`, `npm run keys:rotate`): the process side of the commands in src/entry/cli/
 * (one module per flow). `serve` runs the server entry (src/entry/node.ts) in this process. Exit status 0, 1 on a
 * failure, 64 on a bad command line, 78 on a bad configuration.
 */

const out: Writer = (text) => process.stdout.write(`${text}\n`);
const err: Writer = (text) => process.stderr.write(`${text}\n`);

let command: Command;
try {
  command = parseCommandLine(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  err(`${error.message}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}
if (command.name === 'help') {
  out(USAGE);
  process.exit(EXIT_OK);
}
if (command.name === 'version') {
  out((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
  process.exit(EXIT_OK);
}

async function main(command: Exclude<Command, { name: 'help' | 'version' }>): Promise<void> {
  if (command.name === 'serve') {
    // `--workers` is WORKERS for this run (the flag wins over the environment), so the
    // server entry and the processes it forks read one setting (src/entry/cluster.ts).
    if (command.workers !== undefined) process.env.WORKERS = command.workers;
    // The server entry loads its configuration, listens and stops on signals itself.
    await import('./node.js');
    return;
  }
  // The other commands open the runtime: loaded only for them, drizzle-orm as CommonJS
  // (drizzle-commonjs.ts).
  loadDrizzleThroughRequire();
  const { runCommand } = await import('./cli-commands.js');
  await runCommand(command);
}

try {
  await main(command);
  process.exitCode = EXIT_OK;
} catch (error) {
  if (error instanceof CliError) {
    err(error.message);
    process.exitCode = error.exitCode;
  } else {
    err(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_FAILURE;
  }
}
