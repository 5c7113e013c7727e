import { fork as forkProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createPinoLogger } from '../adapters/pino-logger.js';
import { createClusterAggregator, type MetricSnapshot } from '../adapters/prom-metrics.js';
import type { Config } from '../config.js';
import { AuthError } from '../domain/errors.js';
import { describeError } from '../lib/errors.js';
import { SECOND } from '../lib/time.js';
import type { Logger } from '../ports/logger.js';
import { prettyLogs } from './node-config.js';

/**
 * `latchkey serve --workers N` (WORKERS, issue #21): N server processes on one port through
 * node:cluster. The primary serves nothing: it migrates and checks the signing keys once,
 * forks the workers (each one src/entry/node.ts, as one process runs it), starts a worker
 * again when one dies (with a back-off, so a crash loop does not spin), and on SIGTERM or
 * SIGINT drains every worker through its own graceful shutdown, then exits.
 *
 * What is per process, and stays correct:
 * - /metrics: the worker that answers a scrape asks the primary, which adds up every worker's
 *   counters and process metrics (prom-client's AggregatorRegistry, createClusterAggregator);
 *   the figures read from the database are read once, by the answering worker.
 * - The cleanup loop and the outbox dispatch (mail, webhooks) run in ONE worker, picked by
 *   the primary, and in another at once when it dies. Running them in every worker would be
 *   safe too (cleanup skips locked rows, outbox claims are FOR UPDATE SKIP LOCKED under a
 *   lease), but N workers would poll the outbox N times as often for nothing.
 * - The signing-key cache needs nothing: each worker reloads the key ring every 5 s and on an
 *   unknown `kid`, as separate instances do (src/services/key-ring.ts), so `keys:rotate`
 *   reaches every worker as it reaches every instance.
 *
 * PGlite is one process's database: more than one worker needs DATABASE_URL.
 */

/** The number of workers the configuration asks for: `auto` is one per core. */
export const workerCount = (config: Config): number =>
  config.workers === 'auto' ? availableParallelism() : config.workers;

/** Exit status of `serve --workers N` (N > 1) without DATABASE_URL. */
export const EXIT_NEEDS_POSTGRES = 2;

/** A worker that lived less than this, or never served, counts as a failed start. */
const STEADY_MS = 10 * SECOND;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30 * SECOND;
/** Failed starts in a row, before any worker ever served, after which the primary gives up. */
const GIVE_UP_AFTER = 3;
/** How long a worker's graceful shutdown may take beyond its SHUTDOWN_DELAY (its own hard exit is at 10 s). */
const DRAIN_MS = 15 * SECOND;
/** How long the primary waits for each worker's metrics, and a worker for the totals. */
const SNAPSHOT_WAIT_MS = 2 * SECOND;
const TOTALS_WAIT_MS = 5 * SECOND;

/** The IPC messages between the primary and its workers (tagged, beside prom-client's own). */
type ToWorker =
  | { latchkey: 'duties' }
  | { latchkey: 'snapshot'; id: number }
  | { latchkey: 'totals'; id: number; body?: string; error?: string };
type ToPrimary =
  | { latchkey: 'ready' }
  | { latchkey: 'snapshot'; id: number; metrics: MetricSnapshot }
  | { latchkey: 'totals'; id: number };

const isOurs = (message: unknown): message is { latchkey: string } =>
  typeof message === 'object' &&
  message !== null &&
  typeof (message as { latchkey?: unknown }).latchkey === 'string';

// Each sends unless the channel has closed (the worker gone, the primary gone); an error in
// the sending is dropped (the callback): the other side's wait has a deadline.
const toWorker = (worker: Worker, message: ToWorker) => {
  if (worker.isConnected()) worker.send(message, () => {});
};
const toPrimary = (message: ToPrimary) => {
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
};

/**
 * Runs cluster-prepare as a child process; true when the database is migrated and the signing
 * key opens. The script has this module's extension (.js built, .ts under tsx, whose loader the
 * child inherits through execArgv).
 */
function prepareInChild(logger: Logger): Promise<boolean> {
  const script = fileURLToPath(
    new URL(`./cluster-prepare${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  return new Promise((resolve) => {
    const child = forkProcess(script, [], { stdio: 'inherit' });
    child.once('error', (error) => {
      logger.error('cannot prepare the database', { error: describeError(error) });
      resolve(false);
    });
    child.once('exit', (code) => resolve(code === 0));
  });
}

/**
 * The primary. It never resolves: the process exits when its workers have stopped (0, or 1
 * when one did not stop cleanly or no worker could start), with 2 on PGlite.
 */
export async function runPrimary(config: Config, workerScript: string): Promise<never> {
  const count = workerCount(config);
  if (!config.databaseUrl) {
    console.error(
      `serve --workers ${count} (WORKERS=${config.workers}) needs DATABASE_URL: the embedded database (PGlite) is one process's, so the workers cannot share it. Set DATABASE_URL to a PostgreSQL database, or run one process (WORKERS=1, the default).`,
    );
    process.exit(EXIT_NEEDS_POSTGRES);
  }
  const logger = createPinoLogger(config.logLevel, { pretty: prettyLogs(config) });

  // Once for all workers, in a process that then ends (cluster-prepare.ts): the migrations and
  // the signing key. A wrong MASTER_SECRET or an unreachable database fails here, before any fork.
  if (!(await prepareInChild(logger))) process.exit(1);

  cluster.setupPrimary({ exec: workerScript, args: [] });
  const aggregator = createClusterAggregator();
  interface Member {
    worker: Worker;
    startedAt: number;
    ready: boolean;
    /** The worker's latest metrics, kept for when it exits or does not answer in time. */
    snapshot?: MetricSnapshot;
  }
  const members = new Map<number, Member>();
  let dutyHolder: number | undefined;
  let stopping = false;
  let exitCode = 0;
  let everServed = false;
  let failedStarts = 0;
  const restartTimers = new Set<NodeJS.Timeout>();

  const serving = () => [...members.values()].filter((member) => member.ready);

  const fork = () => {
    // The workers skip the migrations: done above, once.
    const worker = cluster.fork({ MIGRATE_ON_START: 'false' });
    members.set(worker.id, { worker, startedAt: Date.now(), ready: false });
  };

  /** The cleanup loop and the outbox dispatch go to one serving worker. */
  const assignDuties = () => {
    if (stopping || (dutyHolder !== undefined && members.has(dutyHolder))) return;
    const next = serving()[0];
    dutyHolder = next?.worker.id;
    if (next) {
      toWorker(next.worker, { latchkey: 'duties' });
      logger.info('worker runs the cleanup and the outbox', { worker_pid: next.worker.process.pid });
    }
  };

  // Snapshots asked of the workers, by request id.
  let nextId = 0;
  const waiting = new Map<number, { workerId: number; done: (metrics?: MetricSnapshot) => void }>();
  const snapshotOf = (member: Member) =>
    new Promise<MetricSnapshot | undefined>((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => done(), SNAPSHOT_WAIT_MS);
      const done = (metrics?: MetricSnapshot) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (metrics) member.snapshot = metrics;
        // A worker too busy to answer in time still counts, with its latest figures.
        resolve(metrics ?? member.snapshot);
      };
      waiting.set(id, { workerId: member.worker.id, done });
      toWorker(member.worker, { latchkey: 'snapshot', id });
    });

  const totals = async (): Promise<string> => {
    aggregator.serving(serving().length);
    const snapshots = await Promise.all(serving().map(snapshotOf));
    return aggregator.render(snapshots.filter((snapshot) => snapshot !== undefined));
  };

  cluster.on('message', (worker, message: unknown) => {
    if (!isOurs(message)) return;
    const member = members.get(worker.id);
    const ours = message as ToPrimary;
    if (ours.latchkey === 'ready' && member) {
      member.ready = true;
      everServed = true;
      if (stopping) worker.process.kill('SIGTERM');
      assignDuties();
    } else if (ours.latchkey === 'snapshot') {
      waiting.get(ours.id)?.done(ours.metrics);
    } else if (ours.latchkey === 'totals') {
      totals().then(
        (body) => toWorker(worker, { latchkey: 'totals', id: ours.id, body }),
        (error: unknown) => {
          logger.error('metrics of the workers failed', { error: describeError(error) });
          toWorker(worker, { latchkey: 'totals', id: ours.id, error: 'failed' });
        },
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const member = members.get(worker.id);
    members.delete(worker.id);
    for (const request of [...waiting.values()]) if (request.workerId === worker.id) request.done();
    if (member?.snapshot) {
      aggregator.retire(member.snapshot).catch((error: unknown) => {
        logger.error('metrics of an exited worker were lost', { error: describeError(error) });
      });
    }
    if (dutyHolder === worker.id) dutyHolder = undefined;
    if (stopping) {
      // A worker that served and did not stop cleanly makes the whole exit unclean.
      if (member?.ready && code !== 0) exitCode = 1;
      if (members.size === 0) process.exit(exitCode);
      return;
    }
    const lived = Date.now() - (member?.startedAt ?? Date.now());
    failedStarts = member?.ready && lived >= STEADY_MS ? 0 : failedStarts + 1;
    // (`exit_code`: the logger masks a field named `code`.)
    logger.warn('worker exited', {
      worker_pid: worker.process.pid,
      exit_code: code,
      signal,
      lived_ms: lived,
    });
    assignDuties();
    if (!everServed && failedStarts >= GIVE_UP_AFTER) {
      logger.error('no worker could start; giving up', { attempts: failedStarts });
      exitCode = 1;
      stop('no worker started');
      return;
    }
    // At once after a worker that ran for a while; 0.5 s, 1 s, 2 s, … up to 30 s between
    // failed starts in a row (the database down, say), so a crash loop does not spin.
    const delay =
      failedStarts === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failedStarts - 1));
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      aggregator.restarted();
      fork();
    }, delay);
    restartTimers.add(timer);
  });

  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal: reason, workers: members.size });
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    // Each worker runs its own graceful shutdown (src/entry/node-server.ts): serves on for
    // SHUTDOWN_DELAY seconds, stops accepting, finishes the requests in flight and the outbox
    // send under way, closes its pool.
    // A worker still starting gets it once it serves (above), if it has not died by then.
    for (const { worker, ready } of members.values()) if (ready) worker.process.kill('SIGTERM');
    if (members.size === 0) process.exit(exitCode);
    const drainMs = config.shutdownDelaySeconds * SECOND + DRAIN_MS;
    setTimeout(() => {
      for (const { worker } of members.values()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, drainMs).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  logger.info('latchkey starting workers', { workers: count });
  for (let i = 0; i < count; i++) fork();
  return new Promise<never>(() => {});
}

/**
 * A worker's side: its /metrics answers the primary's totals, and it runs the cleanup and
 * the outbox only once the primary has said so. A worker whose primary is killed exits at
 * once: node:cluster does that itself when the IPC channel closes.
 */
export function joinCluster(deps: {
  metrics: {
    snapshot(): Promise<MetricSnapshot>;
    reportClusterTotals(totals: () => Promise<string>): void;
  };
  logger: Logger;
}): { hasDuties(): boolean; serving(): void } {
  let duties = false;
  let nextId = 0;
  const asked = new Map<number, (answer: { body?: string; error?: string }) => void>();

  process.on('message', (message: unknown) => {
    if (!isOurs(message)) return;
    const ours = message as ToWorker;
    if (ours.latchkey === 'duties') {
      duties = true;
    } else if (ours.latchkey === 'snapshot') {
      deps.metrics.snapshot().then(
        (metrics) => toPrimary({ latchkey: 'snapshot', id: ours.id, metrics }),
        (error: unknown) => deps.logger.error('metrics snapshot failed', { error: describeError(error) }),
      );
    } else if (ours.latchkey === 'totals') {
      asked.get(ours.id)?.(ours);
    }
  });

  const unavailable = () =>
    new AuthError('temporarily_unavailable', 'The metrics of the other workers are not available');
  deps.metrics.reportClusterTotals(
    () =>
      new Promise<string>((resolve, reject) => {
        if (!process.connected) return reject(unavailable());
        const id = nextId++;
        const timer = setTimeout(() => answer({ error: 'timeout' }), TOTALS_WAIT_MS);
        const answer = ({ body, error }: { body?: string; error?: string }) => {
          clearTimeout(timer);
          asked.delete(id);
          if (body === undefined || error) reject(unavailable());
          else resolve(body);
        };
        asked.set(id, answer);
        toPrimary({ latchkey: 'totals', id });
      }),
  );

  return {
    hasDuties: () => duties,
    serving: () => toPrimary({ latchkey: 'ready' }),
  };
}
