import { and, eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { outbox } from '../../src/adapters/db/schema.js';
import { deriveMasterKeys, type MasterKeys } from '../../src/lib/crypto.js';
import type { MailMessage } from '../../src/ports/mail.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { securityNotice } from '../../src/services/mail-templates/security-notices.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, TEST_MASTER_SECRET, useDatabase } from '../support/harness.js';
import { registerPasskey, signInWithPasskey, softAuthenticator } from '../support/passkeys.js';

/**
 * Passkeys (issue #20) as the owner and the app hear of them: a mail to the account's address
 * and a webhook delivery for each passkey added, removed, or refused as a copy, written to the
 * outbox with the security event (src/services/security-notifications.ts,
 * src/domain/webhook-events.ts).
 */
const database = useDatabase();
let lk: Latchkey;
let masterKeys: MasterKeys;
let endpointId: string;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, { env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  masterKeys = await deriveMasterKeys(TEST_MASTER_SECRET);
  // Never dispatched here: the test reads the deliveries the events queued.
  const created = await lk.webhooks.createEndpoint({ url: 'http://127.0.0.1:9/hooks', eventTypes: null });
  endpointId = created.endpoint.id;
});

/** The user's passkey notices, oldest first, unsealed. */
async function noticesOf(userId: string): Promise<(MailMessage & { kind: string })[]> {
  const rows = rowsOf<{ id: string; kind: string; payload: string }>(
    await database.current.db.execute(
      sql`SELECT id, kind, payload FROM outbox WHERE user_id = ${userId} AND endpoint_id IS NULL AND kind LIKE 'passkey%' ORDER BY created_at, id`,
    ),
  );
  return Promise.all(
    rows.map(async (row) => ({
      kind: row.kind,
      ...(await unsealMailMessage(masterKeys, row.id, row.payload)),
    })),
  );
}

/** The webhook bodies queued for the endpoint about this user's passkeys, oldest first. */
async function hooksOf(userId: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const rows = await database.current.db
    .select()
    .from(outbox)
    .where(eq(outbox.endpointId, endpointId))
    .orderBy(outbox.createdAt, outbox.id);
  // A delivery's payload is its body as sent (the mail's are sealed; a webhook's carries no secret).
  return rows
    .filter((row) => row.kind.startsWith('passkey.'))
    .map((row) => JSON.parse(row.payload!))
    .filter((body) => body.data.user_id === userId);
}

const tick = () => lk.clock.advance(1000);

describe('passkey notices and webhooks', () => {
  it('adding, a copied passkey refused, and removing: a mail and a webhook each', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const device = softAuthenticator();
    const passkey = await registerPasskey(lk.app, pair.access_token, device, { name: 'Work <laptop>' });
    tick();

    // The copy signs first with the counter both hold; the original then repeats it.
    const copy = device.clone();
    expect((await signInWithPasskey(lk.app, copy)).status).toBe(200);
    tick();
    const refused = await signInWithPasskey(lk.app, device);
    expect(refused.status).toBe(401);
    expect(refused.json.error).toBe('invalid_passkey');
    tick();

    const fresh = await login(lk.app, email);
    const removed = await call(lk.app, `/v1/passkeys/${passkey.id}`, {
      method: 'DELETE',
      token: fresh.access_token,
    });
    expect(removed.status).toBe(204);

    const mails = await noticesOf(id);
    expect(mails.map((mail) => [mail.kind, mail.subject])).toEqual([
      ['passkey_added', 'A passkey was added to your account'],
      ['passkey_clone_suspected', 'A passkey of your account may have been copied'],
      ['passkey_removed', 'A passkey was removed from your account'],
    ]);
    for (const mail of mails) {
      expect(mail.to).toBe(email);
      // The name the user typed is a fact line, escaped in the HTML part.
      expect(mail.text).toContain('Passkey: Work <laptop>');
      expect(mail.html).toContain('Work &lt;laptop&gt;');
      expect(mail.html).not.toContain('<laptop>');
    }

    const hooks = await hooksOf(id);
    expect(hooks.map((hook) => hook.type)).toEqual([
      'passkey.added',
      'passkey.clone_suspected',
      'passkey.removed',
    ]);
    expect(hooks[0]!.data).toEqual({
      user_id: id,
      session_id: pair.session_id,
      passkey_id: passkey.id,
      name: 'Work <laptop>',
      device_type: 'singleDevice',
    });
    expect(hooks[1]!.data).toMatchObject({ passkey_id: passkey.id, stored_count: 1, seen_count: 1 });
    expect(hooks[2]!.data).toEqual({
      user_id: id,
      session_id: fresh.session_id,
      passkey_id: passkey.id,
      name: 'Work <laptop>',
    });
  });

  it('a passkey sign-in is a session.created whose amr says so', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const device = softAuthenticator({ backupEligible: true, signCount: 'zero' });
    await registerPasskey(lk.app, pair.access_token, device);
    tick();
    const signedIn = await signInWithPasskey(lk.app, device);
    expect(signedIn.status).toBe(200);
    const rows = await database.current.db
      .select()
      .from(outbox)
      .where(and(eq(outbox.endpointId, endpointId), eq(outbox.kind, 'session.created')));
    const sessions = rows
      .map((row) => JSON.parse(row.payload!))
      .filter((body) => body.data.user_id === id)
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    expect(sessions.map((body) => body.data.amr)).toEqual([['pwd'], ['swk', 'user', 'mfa']]);
  });
});

describe('the passkey notice templates', () => {
  const facts = {
    to: 'ada@example.com',
    at: new Date('2031-01-01T09:30:00Z'),
    ipAddress: null,
    userAgent: null,
    location: null,
    passkeyName: 'YubiKey 5',
  };

  it('name the product, or say "your account" under the default name', () => {
    for (const kind of ['passkey_added', 'passkey_removed', 'passkey_clone_suspected'] as const) {
      const branded = securityNotice(kind, { ...facts, productName: 'Acme' });
      expect(branded?.subject).toContain('your Acme account');
      expect(branded?.text).toContain('Passkey: YubiKey 5');
      expect(branded?.text).toContain('2031-01-01 09:30 UTC');
      const plain = securityNotice(kind, { ...facts, productName: 'Account' });
      expect(plain?.subject).toContain('your account');
      expect(`${plain?.subject} ${plain?.text}`).not.toContain('Account account');
    }
  });

  it('no notice says "your Account account" under the default name', () => {
    for (const kind of [
      'new_device_login',
      'unusual_time_login',
      'mfa_enabled',
      'mfa_disabled',
      'recovery_code_used',
      'recovery_codes_low',
      'refresh_token_reused',
      'account_disabled',
    ] as const) {
      const mail = securityNotice(kind, {
        ...facts,
        passkeyName: null,
        productName: 'Account',
        remaining: 2,
      });
      expect(`${mail?.subject}\n${mail?.text}`, kind).not.toMatch(/Account account/i);
    }
  });
});
