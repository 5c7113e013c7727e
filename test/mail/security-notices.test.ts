import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { deriveMasterKeys, type MasterKeys } from '../../src/lib/crypto.js';
import type { MailMessage } from '../../src/ports/mail.js';
import { unsealMailMessage } from '../../src/services/mail-sealing.js';
import { securityNotice } from '../../src/services/mail-templates/security-notices.js';
import { call, login, refresh, registerUser } from '../support/client.js';
import {
  buildLatchkey,
  type Latchkey,
  PASSWORD,
  TEST_MASTER_SECRET,
  useDatabase,
} from '../support/harness.js';

/** Issue #17 §4: security notifications, written to the outbox with the event they are about. */
const database = useDatabase();
let lk: Latchkey;
let masterKeys: MasterKeys;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
  masterKeys = await deriveMasterKeys(TEST_MASTER_SECRET);
});

/** The user's queued notices (not the verification mail of registration), oldest first, unsealed. */
async function mailOf(userId: string): Promise<(MailMessage & { kind: string })[]> {
  const rows = rowsOf<{ id: string; kind: string; payload: string }>(
    await database.current.db.execute(
      sql`SELECT id, kind, payload FROM outbox WHERE user_id = ${userId} AND kind <> 'verify_email' ORDER BY created_at, id`,
    ),
  );
  return Promise.all(
    rows.map(async (row) => ({
      kind: row.kind,
      ...(await unsealMailMessage(masterKeys, row.id, row.payload)),
    })),
  );
}

const tick = () => lk.clock.advance(1000);

describe('security notifications', () => {
  it('a first sign-in says nothing; a sign-in from a new device does, with the device and time', async () => {
    const { email, id } = await registerUser(lk.app);
    await login(lk.app, email, {}, { 'user-agent': 'Firefox/130 on Linux' });
    tick();
    await login(lk.app, email, {}, { 'user-agent': 'Firefox/130 on Linux' });
    expect(await mailOf(id)).toEqual([]);
    tick();
    await login(lk.app, email, {}, { 'user-agent': 'Evil <b>Browser</b>' });
    const [notice, ...rest] = await mailOf(id);
    expect(rest).toEqual([]);
    expect(notice).toMatchObject({
      kind: 'new_device_login',
      to: email,
      subject: 'New sign-in to your account',
    });
    expect(notice!.text).toContain('Device: Evil <b>Browser</b>');
    expect(notice!.text).toContain('IP address: 203.0.113.7');
    // Whatever a request sent is text in the HTML part, never markup.
    expect(notice!.html).toContain('Evil &lt;b&gt;Browser&lt;/b&gt;');
    expect(notice!.html).not.toContain('<b>Browser');
  });

  it('a password change, and a replayed refresh token, each send their notice', async () => {
    const { email, id } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    const next = await refresh(lk.app, pair.refresh_token);
    expect(next.status).toBe(200);
    lk.clock.advance(60_000); // past the reuse grace window
    expect((await refresh(lk.app, pair.refresh_token)).json.error).toBe('refresh_token_reused');
    tick(); // messages of one instant have no order between them
    const other = await login(lk.app, email);
    const changed = await call(lk.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'another long passphrase 42' },
      token: other.access_token,
    });
    expect(changed.status).toBe(204);
    expect((await mailOf(id)).map((mail) => mail.kind)).toEqual(['refresh_token_reused', 'password_changed']);
  });

  it('SECURITY_NOTIFICATIONS=false writes none', async () => {
    const quiet = await buildLatchkey(database.current, {
      clock: lk.clock,
      env: { SECURITY_NOTIFICATIONS: 'false' },
    });
    const { email, id } = await registerUser(quiet.app);
    const pair = await login(quiet.app, email);
    await call(quiet.app, '/v1/users/me/password', {
      body: { current_password: PASSWORD, new_password: 'another long passphrase 42' },
      token: pair.access_token,
    });
    expect(await mailOf(id)).toEqual([]);
  });

  it('every notice template renders a text and an HTML part with the product name', () => {
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
        to: 'ada@example.com',
        productName: 'Acme & Co',
        at: new Date('2031-01-01T09:30:00Z'),
        ipAddress: '198.51.100.4',
        userAgent: null,
        location: 'Paris, FR',
        remaining: 2,
      });
      expect(mail?.subject).toContain('Acme & Co');
      expect(mail?.text).toContain('2031-01-01 09:30 UTC');
      expect(mail?.html).toContain('Acme &amp; Co');
      expect(mail?.html).not.toContain('Acme & Co');
    }
  });
});
