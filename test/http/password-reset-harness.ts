import { and, eq, sql } from 'drizzle-orm';
import { rowsOf } from '../../src/adapters/db/database.js';
import { outbox, users } from '../../src/adapters/db/schema.js';
import type { LatchkeyApp } from '../../src/http/app.js';
import { deriveMasterKeys } from '../../src/lib/crypto.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { call } from '../support/client.js';
import type { TestDatabase } from '../support/database.js';
import { TEST_MASTER_SECRET } from '../support/harness.js';

export const NEW_PASSWORD = 'seven herons fold paper under violet rain';
/** The harness's MASTER_SECRET's keys: the tests unseal the outbox with them. */
export const KEYS = deriveMasterKeys(TEST_MASTER_SECRET);

/** Requests and database reads the password reset tests share. */
export function resetTools(database: () => TestDatabase, defaultApp: () => LatchkeyApp) {
  const forgot = (email: string, app = defaultApp()) =>
    call(app, '/v1/auth/password/forgot', { body: { email } });
  const reset = (body: Record<string, unknown>, app = defaultApp()) =>
    call(app, '/v1/auth/password/reset', { body: { password: NEW_PASSWORD, ...body } });

  /** The user's outbox rows of `kind`, oldest first. */
  async function mailsOf(userId: string, kind: string) {
    return database()
      .db.select()
      .from(outbox)
      .where(and(eq(outbox.userId, userId), eq(outbox.kind, kind)))
      .orderBy(outbox.createdAt, outbox.id);
  }

  /** The token of the user's newest reset mail, read the way the recipient would: from the link. */
  async function latestToken(userId: string): Promise<string> {
    const rows = await mailsOf(userId, 'password_reset');
    const row = rows.at(-1)!;
    const mail = await unsealMailMessage(await KEYS, row.id, row.payload!);
    const link = mail.text.match(/http:\/\/localhost:3000\/account\/password\/reset\?token=\S+/)![0];
    return new URL(link).searchParams.get('token')!;
  }

  const passwordHashOf = async (userId: string) =>
    (await database().db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)))[0]!
      .hash;

  async function eventTypes(userId: string): Promise<string[]> {
    const result = await database().db.execute(
      sql`SELECT type FROM security_events WHERE user_id = ${userId} ORDER BY created_at, type`,
    );
    return rowsOf<{ type: string }>(result).map((row) => row.type);
  }

  return { forgot, reset, mailsOf, latestToken, passwordHashOf, eventTypes };
}
