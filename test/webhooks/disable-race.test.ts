import { describe, expect, it } from 'vitest';
import { buildLatchkey, TestClock, useDatabase } from '../support/harness.js';

/**
 * WEBHOOK_DISABLE_AFTER under parallel failures (issue #18): the count and the decision are one
 * statement under the endpoint row's lock, so of many deliveries failing at once exactly one
 * crosses the threshold and disables the endpoint (one "disabled" for the admins, not several).
 */
const database = useDatabase();

describe('disabling a failing endpoint', () => {
  it('twelve deliveries failing at once with a threshold of 3: disabled once, every failure counted', async () => {
    const clock = new TestClock();
    const lk = await buildLatchkey(database.current, { clock, env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    const { endpoint } = await lk.webhooks.createEndpoint({ url: 'http://127.0.0.1:9/hooks' });
    for (let i = 0; i < 12; i++) await lk.webhooks.sendTest(endpoint.id);
    const claimed = await lk.store.claimDueDeliveries(clock.now(), 100, 60_000);
    expect(claimed).toHaveLength(12);

    const outcomes = await Promise.all(
      claimed.map((delivery) =>
        lk.store.markDeliveryFailed(delivery.id, {
          error: 'answered 500',
          status: 500,
          now: clock.now(),
          disableAfter: 3,
        }),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.endpointDisabled !== undefined)).toHaveLength(1);
    const after = await lk.webhooks.getEndpoint(endpoint.id);
    expect(after).toMatchObject({ enabled: false, consecutiveFailures: 12 });
    // A failed delivery's outcome is recorded once: marking them again changes nothing.
    const again = await Promise.all(
      claimed.map((delivery) =>
        lk.store.markDeliveryFailed(delivery.id, {
          error: 'x',
          status: 500,
          now: clock.now(),
          disableAfter: 3,
        }),
      ),
    );
    expect(again.every((outcome) => outcome.endpointDisabled === undefined)).toBe(true);
    expect((await lk.webhooks.getEndpoint(endpoint.id)).consecutiveFailures).toBe(12);
  });
});
