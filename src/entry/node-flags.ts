import type { Config } from '../config.js';
import { describeError } from '../lib/errors.js';
import { nodeMajor } from './node-version.js';

/**
 * V8 settings that only count when Node starts, for the server a user runs with no tuning
 * (issue #21). The server entry starts itself again, in the same process, with them on its
 * command line, wherever Node can (`process.execve`: Node 22.15 and later, not on Windows; Node 20
 * runs with V8's defaults):
 *
 * - `--max-semi-space-size=8`. The young generation grows to two semi-spaces of 16 MiB on Node 20
 *   and 22, 32 MiB on 24 and 26 (V8 13 and 14), all of it resident once a refresh load has grown
 *   it. The size is read when the heap is made. Measured on the 2-vCPU bench machine, PostgreSQL,
 *   `BENCH_BLOCKS=refresh,memory` (BENCHMARKS.md), idle / refresh peak:
 *   - Node 26.12.1: 189-191 / 198-200 MiB, against 226 / 238 by default and 204-205 / 212-216 at
 *     16; main-thread CPU a refresh 0.274-0.285 ms at 8 against 0.277-0.286 at 16 (three pairs);
 *   - Node 24.22.3: 188 / 197 against 215 / 293 by default;
 *   - Node 22.23.5: 173-177 / 196-210 against 187-195 / 227-259, for 3.5 % more main-thread CPU a
 *     refresh (0.327-0.330 ms against 0.316-0.317): the peak decides, a 256 MiB container.
 * - `--liftoff-only` when the database is PGlite (no DATABASE_URL) and PGLITE_OPTIMIZE is not
 *   set: src/adapters/db/pglite.ts sets it at run time (`baselineWasmOnly`), which still works on
 *   Node 20 and 22, but on 24 and 26 PGlite's WebAssembly is tiered up to TurboFan all the same:
 *   315 MiB idle and 815 MiB at the peak of a start on Node 24, against 240 / 256 with the flag at
 *   launch; Node 26 305 MiB against 241.
 *
 * `process.execve` replaces the process image: the same PID (a supervisor, a container's PID 1,
 * the bench's sampler see one process), stdin, stdout and stderr kept, nothing else. So never
 * with an IPC channel (a cluster worker, a forked child), which would be lost; a cluster worker
 * inherits its primary's command line anyway. A flag already given (on the command line or in
 * NODE_OPTIONS) is the operator's and is left alone, and the new process finds its flags on its
 * command line, so it does not start again.
 */

/** The semi-space size, in MiB (half of Node 20's and 22's 16, a quarter of 24's and 26's; see above). */
export const SEMI_SPACE_MIB = 8;

/** From this Node major, the flags are given at launch (its 22.15 and later have execve). */
export const RELAUNCH_FROM_MAJOR = 22;

export interface LaunchFacts {
  /** `process.version`. */
  version: string;
  /** `process.execArgv`: the node options this process was started with. */
  execArgv: readonly string[];
  /** NODE_OPTIONS, where an operator may give the same flags. */
  nodeOptions: string | undefined;
  /** Whether the database is PGlite run without V8's optimising compiler. */
  pgliteBaseline: boolean;
}

/** A V8 flag's name as given: `--max_semi_space_size=8` and `--no-liftoff-only` name theirs too. */
const flagName = (arg: string): string =>
  arg
    .split('=')[0]!
    .replace(/_/g, '-')
    .replace(/^--no-/, '--');

const given = (facts: LaunchFacts, flag: string): boolean =>
  [...facts.execArgv, ...(facts.nodeOptions ?? '').split(/\s+/)].some((arg) => flagName(arg) === flag);

/** The flags to start again with; none where nothing would change. */
export function launchFlags(facts: LaunchFacts): string[] {
  if (nodeMajor(facts.version) < RELAUNCH_FROM_MAJOR) return [];
  const flags: string[] = [];
  if (!given(facts, '--max-semi-space-size') && !given(facts, '--max-heap-size'))
    flags.push(`--max-semi-space-size=${SEMI_SPACE_MIB}`);
  if (facts.pgliteBaseline && !given(facts, '--liftoff-only') && !given(facts, '--liftoff'))
    flags.push('--liftoff-only');
  return flags;
}

interface ProcessLike {
  version: string;
  platform: string;
  execPath: string;
  execArgv: readonly string[];
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  channel?: unknown;
  execve?: (file: string, args?: readonly string[], env?: NodeJS.ProcessEnv) => never | undefined;
}

/**
 * Starts this process again with `launchFlags` where they apply and the runtime can; returns
 * (having done nothing) otherwise, or if execve fails (the server then runs without them).
 */
export function relaunchWithFlags(
  config: Pick<Config, 'databaseUrl' | 'pgliteOptimize'>,
  proc: ProcessLike = process as unknown as ProcessLike,
  warn: (message: string) => void = console.error,
): void {
  if (typeof proc.execve !== 'function' || proc.platform === 'win32' || proc.channel) return;
  const flags = launchFlags({
    version: proc.version,
    execArgv: proc.execArgv,
    nodeOptions: proc.env.NODE_OPTIONS,
    pgliteBaseline: config.databaseUrl === undefined && !config.pgliteOptimize,
  });
  if (flags.length === 0) return;
  try {
    proc.execve(proc.execPath, [proc.execPath, ...flags, ...proc.execArgv, ...proc.argv.slice(1)], proc.env);
  } catch (error) {
    warn(`warning: could not restart with ${flags.join(' ')} (${describeError(error)}); running without`);
  }
}
