import type { Store } from '../../ports/store.js';
import type { Database } from './database.js';
import { createAdminStore } from './drizzle-admin-store.js';
import { createDpopReplayStore } from './drizzle-dpop-store.js';
import { createEmailTokenStore } from './drizzle-email-tokens.js';
import { createEventLog } from './drizzle-event-log.js';
import { createLoginStore } from './drizzle-login-store.js';
import { createMaintenanceStore } from './drizzle-maintenance.js';
import { createMfaStore } from './drizzle-mfa-store.js';
import { createOutboxStore } from './drizzle-outbox.js';
import { createPasskeyStore } from './drizzle-passkeys.js';
import { createSessionStore } from './drizzle-session-store.js';
import { createUserStore } from './drizzle-user-store.js';
import { createWebhookStore } from './drizzle-webhooks.js';

/**
 * Every persistence port over one drizzle database (PostgreSQL through postgres.js, or
 * PGlite): one module per port, as the services see them (src/ports/store.ts).
 */
export function createDrizzleStore(db: Database): Store {
  return {
    ...createUserStore(db),
    ...createSessionStore(db),
    ...createLoginStore(db),
    ...createEventLog(db),
    ...createMaintenanceStore(db),
    ...createMfaStore(db),
    ...createPasskeyStore(db),
    ...createAdminStore(db),
    ...createEmailTokenStore(db),
    ...createWebhookStore(db),
    ...createOutboxStore(db),
    ...createDpopReplayStore(db),
  };
}
