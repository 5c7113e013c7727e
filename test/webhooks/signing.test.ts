import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, webhookHeaders } from '../../src/services/webhook-signing.js';

/** Our signatures, verified by the reference library of Standard Webhooks (issue #18). */
describe('Standard Webhooks signatures', () => {
  const body = JSON.stringify({
    type: 'user.created',
    timestamp: '2026-12-03T10:00:00.000Z',
    data: { user_id: 'u1' },
  });
  const now = Math.floor(Date.now() / 1000);

  it('a secret is whsec_ and the base64 of 24 random bytes, fresh each time', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it('standardwebhooks verifies what we sign, and refuses a changed body, id or timestamp', () => {
    const secret = newWebhookSecret();
    return webhookHeaders([secret], { webhookId: 'msg_1', timestampSeconds: now, body }).then((headers) => {
      const receiver = new Webhook(secret);
      expect(receiver.verify(body, headers)).toEqual(JSON.parse(body));
      expect(() => receiver.verify(`${body} `, headers)).toThrow();
      expect(() => receiver.verify(body, { ...headers, 'webhook-id': 'msg_2' })).toThrow();
      expect(() => receiver.verify(body, { ...headers, 'webhook-timestamp': String(now - 1) })).toThrow();
      expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
    });
  });

  it('during a rotation both secrets sign: a receiver with either one accepts the delivery', async () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const headers = await webhookHeaders([current, previous], {
      webhookId: 'msg_r',
      timestampSeconds: now,
      body,
    });
    expect(headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    expect(new Webhook(current).verify(body, headers)).toBeTruthy();
    expect(new Webhook(previous).verify(body, headers)).toBeTruthy();
  });
});
