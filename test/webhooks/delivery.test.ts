import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/adapters/db/database.js';
import { outbox, securityEvents } from '../../src/adapters/db/schema.js';
import { createNodeWebhookSender } from '../../src/adapters/webhooks/node-sender.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, TestClock, useDatabase } from '../support/harness.js';
import { startReceiver } from './receiver.js';

/**
 * Webhook delivery (issue #18) with a real receiver that verifies every signature with the
 * `standardwebhooks` package: events written with the security event (one outbox row per
 * subscribed endpoint), signed deliveries, retries for about a day, then `failed`, and an
 * endpoint that keeps failing disabled, with an event and a mail for every admin.
 */
const database = useDatabase();
const HOUR = 3_600_000;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let secret: string | undefined;
let clock: TestClock;
let lk: Latchkey;

beforeAll(async () => {
  clock = new TestClock();
  receiver = await startReceiver({ secret: () => secret, now: () => clock.now().getTime() });
  lk = await buildLatchkey(database.current, {
    clock,
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_DISABLE_AFTER: '3' },
    webhookSender: createNodeWebhookSender({ allowPrivate: true, userAgent: 'test' }),
  });
});
afterAll(async () => {
  await receiver.close();
});

async function endpointFor(eventTypes: string[] | null = null) {
  const created = await lk.webhooks.createEndpoint({ url: receiver.url, eventTypes });
  secret = created.secret;
  return created.endpoint;
}

const deliveriesOf = (endpointId: string) =>
  database.current.db
    .select()
    .from(outbox)
    .where(eq(outbox.endpointId, endpointId))
    .orderBy(outbox.createdAt);

describe('webhook delivery', () => {
  it('a sign-up and a sign-in reach the receiver signed, as user.created and session.created', async () => {
    const endpoint = await endpointFor(['user.created', 'session.created']);
    const before = receiver.received.length;
    const user = await registerUser(lk.app);
    await login(lk.app, user.email, { device_name: 'laptop' });
    // Written with the events, due at once; one row each for this endpoint.
    const rows = await deliveriesOf(endpoint.id);
    expect(rows.map((row) => row.kind).sort()).toEqual(['session.created', 'user.created']);
    expect(rows.every((row) => row.status === 'pending' && row.idempotencyKey.startsWith('msg_'))).toBe(true);

    await lk.webhooks.dispatcher!.drain();
    const got = receiver.received.slice(before);
    expect(got).toHaveLength(2);
    expect(got.every((delivery) => delivery.verified)).toBe(true);
    const created = got.find((delivery) => delivery.payload.type === 'user.created')!;
    expect(created.payload.data).toEqual({ user_id: user.id, email: user.email });
    const session = got.find((delivery) => delivery.payload.type === 'session.created')!;
    expect(session.payload.data).toMatchObject({
      user_id: user.id,
      device_name: 'laptop',
      ip_address: '203.0.113.7',
    });
    expect(session.payload.timestamp).toBe(clock.now().toISOString());
    // Never a secret in a payload.
    for (const delivery of got) expect(delivery.body).not.toMatch(/token|password|secret/i);
    expect(
      (await deliveriesOf(endpoint.id)).every((row) => row.status === 'sent' && row.lastStatus === 200),
    ).toBe(true);
    await lk.webhooks.deleteEndpoint(endpoint.id);
  });

  it('an endpoint gets only the types it asked for; a disabled one gets nothing written… and nothing sent', async () => {
    const endpoint = await endpointFor(['password.changed']);
    const user = await registerUser(lk.app);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(0);
    await lk.webhooks.updateEndpoint(endpoint.id, { enabled: false });
    const pair = await login(lk.app, user.email);
    await call(lk.app, '/v1/users/me/password', {
      token: pair.access_token,
      body: { current_password: 'correct horse battery staple', new_password: 'another fine passphrase 42' },
    });
    expect(await deliveriesOf(endpoint.id)).toHaveLength(0);
    await lk.webhooks.deleteEndpoint(endpoint.id);
  });

  it('a failing receiver: retried with backoff (same webhook-id) for about a day, then failed; the endpoint disabled after 3, admins told', async () => {
    const admin = await registerUser(lk.app);
    await database.current.db.execute(sql`UPDATE users SET role = 'admin' WHERE id = ${admin.id}::uuid`);
    const endpoint = await endpointFor(['user.created']);
    receiver.answerWith(() => 500);
    for (let i = 0; i < 3; i++) await registerUser(lk.app);
    const ids = (await deliveriesOf(endpoint.id)).map((row) => row.idempotencyKey);
    expect(ids).toHaveLength(3);

    const seen = new Map<string, number>();
    for (let hour = 0; hour < 30; hour++) {
      await lk.webhooks.dispatcher!.drain();
      clock.advance(HOUR);
    }
    for (const got of receiver.received)
      if (ids.includes(got.id)) seen.set(got.id, (seen.get(got.id) ?? 0) + 1);
    // Every delivery was tried several times, always under its own webhook-id.
    for (const id of ids) expect(seen.get(id)).toBeGreaterThan(3);
    const rows = await deliveriesOf(endpoint.id);
    expect(rows.every((row) => row.status === 'failed' && row.lastStatus === 500)).toBe(true);
    expect(rows.every((row) => row.lastError === 'answered 500')).toBe(true);
    // Given up after about a day, not before.
    const ages = rows.map((row) => row.nextAttemptAt.getTime() - row.createdAt.getTime());
    expect(Math.min(...ages)).toBeGreaterThan(20 * HOUR);

    const after = await lk.webhooks.getEndpoint(endpoint.id);
    expect(after).toMatchObject({ enabled: false, consecutiveFailures: 3 });
    expect(after.disabledReason).toMatch(/3 deliveries in a row failed/);
    const told = await database.current.db
      .select()
      .from(securityEvents)
      .where(and(eq(securityEvents.userId, admin.id), eq(securityEvents.type, 'webhook_endpoint_disabled')));
    expect(told).toHaveLength(1);
    const mails = rowsOf<{ kind: string }>(
      await database.current.db.execute(
        sql`SELECT kind FROM outbox WHERE user_id = ${admin.id}::uuid AND kind = 'webhook_endpoint_disabled'`,
      ),
    );
    expect(mails).toHaveLength(1);

    // Fixed and enabled again: a failed delivery replays, under the same webhook-id.
    receiver.answerWith(() => 200);
    await lk.webhooks.updateEndpoint(endpoint.id, { enabled: true });
    await lk.webhooks.replay(rows[0]!.id);
    const before = receiver.received.length;
    await lk.webhooks.dispatcher!.drain();
    const replayed = receiver.received.slice(before);
    expect(replayed.map((got) => got.id)).toEqual([rows[0]!.idempotencyKey]);
    expect(replayed[0]!.verified).toBe(true);
    expect((await lk.webhooks.getEndpoint(endpoint.id)).consecutiveFailures).toBe(0);
    await lk.webhooks.deleteEndpoint(endpoint.id);
  });

  it('a rotated secret: both signatures for the overlap, a receiver on either secret accepts', async () => {
    const endpoint = await endpointFor(['user.created']);
    const old = secret!;
    const rotated = await lk.webhooks.rotateSecret(endpoint.id);
    const before = receiver.received.length;
    await registerUser(lk.app);
    secret = old;
    await lk.webhooks.dispatcher!.drain();
    expect(receiver.received.slice(before).map((got) => got.verified)).toEqual([true]);
    expect(receiver.received.at(-1)!.signature.split(' ')).toHaveLength(2);
    secret = rotated.secret;
    clock.advance(25 * HOUR); // past WEBHOOK_SECRET_OVERLAP: the old secret signs no more
    await registerUser(lk.app);
    await lk.webhooks.dispatcher!.drain();
    expect(receiver.received.at(-1)!.verified).toBe(true);
    expect(receiver.received.at(-1)!.signature.split(' ')).toHaveLength(1);
    await lk.webhooks.deleteEndpoint(endpoint.id);
  });
});
