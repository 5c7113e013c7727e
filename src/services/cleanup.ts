import { DAY, HOUR } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import type { CleanupTable, Maintenance } from '../ports/store.js';

export interface CleanupPolicy {
  batchSize: number;
  /** How long security events are kept (the user's log). */
  eventRetentionMs: number;
  /** Token rows of a revoked session are deleted this long after the revocation. */
  revokedSessionRetentionMs: number;
  /** Retired signing keys are deleted this long after retirement (KeyRing.retiredKeyRetentionMs). */
  retiredKeyRetentionMs: number;
  /** At most this many batches per table per run, so one run never holds an instance long. */
  maxBatchesPerRun?: number;
}

export type CleanupCounts = Record<CleanupTable, number>;

/**
 * Deletes what has outlived its use, in batches, safely on many instances at once: each
 * batch is one short statement that skips rows another instance has locked.
 */
export function createCleanup(deps: {
  store: Pick<Maintenance, 'deleteExpiredBatch'>;
  clock: Clock;
  policy: CleanupPolicy;
}) {
  const { store, clock, policy } = deps;

  async function runOnce(): Promise<CleanupCounts> {
    const now = clock.now().getTime();
    // A small margin past expiry, so nothing is deleted under a request still deciding on it.
    const cutoffs: Record<CleanupTable, Date> = {
      refresh_tokens: new Date(now - DAY),
      revoked_sessions: new Date(now - policy.revokedSessionRetentionMs),
      mfa_challenges: new Date(now - HOUR),
      login_holds: new Date(now - HOUR),
      rate_limits: new Date(now - HOUR),
      security_events: new Date(now - policy.eventRetentionMs),
      signing_keys: new Date(now - policy.retiredKeyRetentionMs - HOUR),
      email_tokens: new Date(now - HOUR),
      // A deleted account's tombstone goes with the last of its (anonymised) events.
      deleted_users: new Date(now - policy.eventRetentionMs),
      outbox: new Date(now - 30 * DAY),
      webauthn_challenges: new Date(now - HOUR),
      dpop_proofs: new Date(now - HOUR),
    };
    const counts = {} as CleanupCounts;
    for (const table of Object.keys(cutoffs) as CleanupTable[]) {
      counts[table] = 0;
      for (let batch = 0; batch < (policy.maxBatchesPerRun ?? 20); batch++) {
        const deleted = await store.deleteExpiredBatch(table, cutoffs[table], policy.batchSize);
        counts[table] += deleted;
        if (deleted < policy.batchSize) break;
      }
    }
    return counts;
  }

  return { runOnce };
}
