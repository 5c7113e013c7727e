import { setFlagsFromString } from 'node:v8';
import { type Config, ConfigError, parseConfig, unknownVariableWarnings } from '../config.js';

/**
 * What a Node process reads before it decides what to be: the configuration, and the V8 setting
 * it applies at once. Light on purpose (the configuration only): the primary of
 * `serve --workers N` imports this and not the server (src/entry/node.ts).
 */

/** Says on stderr (stdout is the CLI's) which variables look misspelt: they would be ignored without a word. */
export function warnUnknownVariables(env: NodeJS.ProcessEnv): void {
  for (const warning of unknownVariableWarnings(env)) console.error(`warning: ${warning}`);
}

/**
 * The configuration, or exit 78 (EX_CONFIG) with its problems. `warn: false` leaves the
 * misspelt-variable warnings of a valid configuration to the caller (`warnUnknownVariables`):
 * the server entry may start its process again first (node-flags.ts), and says them once.
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv, options: { warn?: boolean } = {}): Config {
  try {
    const config = parseConfig(env);
    if (options.warn !== false) warnUnknownVariables(env);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      // A misspelt variable may be why a required one is missing: the warnings first.
      warnUnknownVariables(env);
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/**
 * How far V8 lets the heap grow before its next full collection (HEAP_GROWTH_PERCENT, 50 by
 * default). Left to itself, V8 on a machine with memory to spare lets the old generation grow
 * to about four times what survived the last full collection. Under refresh load the objects of
 * the requests in flight survive young collections and are promoted, so the server grew by about
 * 95 MiB of such garbage before V8 collected it (320 MiB at the peak of `npm run bench`'s
 * 32-connection refresh against 218 MiB idle). At 50 % it collects after about 15 MiB: the peak
 * was 237 MiB, for no measurable main-thread CPU per refresh (BENCHMARKS.md, issue #21). The flag
 * is read at each collection, so setting it once the server listens is enough (node-server.ts);
 * 0 leaves V8's own rule.
 */
export function applyHeapGrowth(
  config: Pick<Config, 'heapGrowthPercent'>,
  setFlags: (flags: string) => void = setFlagsFromString,
): void {
  if (config.heapGrowthPercent > 0) setFlags(`--heap-growing-percent=${config.heapGrowthPercent}`);
}

/** Readable log lines for a person at a terminal in development; JSON for everything else. */
export const prettyLogs = (config: Pick<Config, 'env'>): boolean =>
  config.env === 'development' && process.stdout.isTTY === true;
