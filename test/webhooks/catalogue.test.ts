import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_EVENT_TYPES, webhookEventOf } from '../../src/domain/webhook-events.js';

/** docs/webhooks.md's event catalogue is the code's (issue #18: "the event catalogue with one example payload each"). */
describe('the webhook event catalogue', () => {
  const section = readFileSync(new URL('../../docs/webhooks.md', import.meta.url), 'utf8');

  it('docs/webhooks.md lists every type, once, each with an example, and no other', () => {
    const listed = [...section.matchAll(/^\| `([a-z_.]+)` \|[^|]+\| `\{.+\}` \|$/gm)].map(
      (match) => match[1],
    );
    expect(listed).toEqual([...WEBHOOK_EVENT_TYPES]);
  });

  it('no payload carries a secret-looking field, whatever the details hold', () => {
    const details = {
      email: 'a@example.com',
      password: 'p',
      token: 't',
      refresh_token: 'r',
      code: '123456',
      secret: 's',
      to: 'b@example.com',
      revoked: 2,
      via: 'cli',
    };
    const types = [
      'user_registered',
      'email_verified',
      'name_changed',
      'email_changed',
      'email_change_reverted',
      'admin_user_disabled',
      'admin_user_enabled',
      'account_deleted',
      'login_succeeded',
      'session_revoked',
      'sessions_revoked',
      'admin_session_revoked',
      'admin_sessions_revoked',
      'refresh_token_reused',
      'mfa_enabled',
      'mfa_disabled',
      'admin_mfa_reset',
      'passkey_added',
      'passkey_removed',
      'passkey_clone_suspected',
      'password_changed',
      'password_reset',
      'login_throttled',
    ];
    const made = new Set<string>();
    for (const type of types) {
      const hook = webhookEventOf({ userId: 'u', type, details, at: new Date(0) });
      expect(hook, type).toBeDefined();
      made.add(hook!.type);
      expect(Object.keys(hook!.data)).not.toEqual(
        expect.arrayContaining([expect.stringMatching(/password|token|code|secret/)]),
      );
      expect(JSON.stringify(hook!.data)).not.toMatch(/"(p|t|r|123456|s)"/);
    }
    // Every type of the catalogue is made by some security event.
    expect([...made].sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    expect(webhookEventOf({ userId: 'u', type: 'mfa_failed', at: new Date(0) })).toBeUndefined();
  });

  it('the passkey events carry the passkey and what the store recorded, never its key', () => {
    const at = new Date(0);
    const added = webhookEventOf({
      userId: 'u',
      sessionId: 's',
      type: 'passkey_added',
      details: { passkey_id: 'p', name: 'Security key', device_type: 'singleDevice', public_key: 'pk' },
      at,
    });
    expect(added).toEqual({
      type: 'passkey.added',
      data: {
        user_id: 'u',
        session_id: 's',
        passkey_id: 'p',
        name: 'Security key',
        device_type: 'singleDevice',
      },
    });
    expect(
      webhookEventOf({
        userId: 'u',
        sessionId: 's',
        type: 'passkey_removed',
        details: { passkey_id: 'p', name: 'n' },
        at,
      }),
    ).toEqual({
      type: 'passkey.removed',
      data: { user_id: 'u', session_id: 's', passkey_id: 'p', name: 'n' },
    });
    expect(
      webhookEventOf({
        userId: 'u',
        type: 'passkey_clone_suspected',
        details: { passkey_id: 'p', name: 'n', stored_count: 7, seen_count: 3 },
        at,
      }),
    ).toEqual({
      type: 'passkey.clone_suspected',
      data: { user_id: 'u', passkey_id: 'p', name: 'n', stored_count: 7, seen_count: 3 },
    });
  });

  it('session.created says how the user signed in (amr)', () => {
    const hook = webhookEventOf({
      userId: 'u',
      sessionId: 's',
      type: 'login_succeeded',
      details: { client_id: 'default', amr: ['hwk', 'user', 'mfa'], new_device: true },
      at: new Date(0),
    });
    expect(hook?.data).toMatchObject({ amr: ['hwk', 'user', 'mfa'], client_id: 'default' });
  });
});
