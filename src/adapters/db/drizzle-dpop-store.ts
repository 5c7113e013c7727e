import { sql } from 'drizzle-orm';
import type { DpopReplayStore } from '../../ports/dpop.js';
import { type Database, rowsOf } from './database.js';

/** The DPoP replay cache over drizzle: one statement, the primary key deciding between racers. */
export function createDpopReplayStore(db: Database): DpopReplayStore {
  return {
    async rememberDpopProof(key, until, now) {
      // An entry past its expiry (not yet cleaned up) is taken over: the proof it remembered
      // is too old to be accepted anyway. Two inserts of one key: the second waits for the
      // first's row, then finds it unexpired and returns nothing.
      const result = await db.execute(sql`
        INSERT INTO dpop_proofs (key, expires_at) VALUES (${key}, ${until.toISOString()}::timestamptz)
        ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE dpop_proofs.expires_at <= ${now.toISOString()}::timestamptz
        RETURNING 1`);
      return rowsOf(result).length === 1;
    },
  };
}
