import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../../src/adapters/db/schema.js';
import { call, login, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, TestClock, useDatabase } from '../support/harness.js';

/** POST /v1/auth/logout sends session.revoked whichever credential ends the session (Bearer, refresh token). */
const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    clock: new TestClock(),
    env: { WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
});

const revokedRows = (endpointId: string) =>
  database.current.db
    .select()
    .from(outbox)
    .where(eq(outbox.endpointId, endpointId))
    .then((rows) => rows.filter((row) => row.kind === 'session.revoked'));

describe('logout and the session.revoked webhook', () => {
  for (const how of ['bearer', 'refresh_token'] as const) {
    it(`a logout with the ${how} writes a session.revoked delivery`, async () => {
      const { endpoint } = await lk.webhooks.createEndpoint({
        url: 'http://127.0.0.1:9/hooks',
        eventTypes: ['session.revoked'],
      });
      const user = await registerUser(lk.app);
      const pair = await login(lk.app, user.email);
      const res =
        how === 'bearer'
          ? await call(lk.app, '/v1/auth/logout', { token: pair.access_token, method: 'POST' })
          : await call(lk.app, '/v1/auth/logout', { body: { refresh_token: pair.refresh_token } });
      expect(res.status).toBe(204);
      expect(await revokedRows(endpoint.id)).toHaveLength(1);
      await lk.webhooks.deleteEndpoint(endpoint.id);
    });
  }
});
