import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingProxy, type WireCounts } from '../bench/pg-proxy.js';
import type { OpenedDatabase } from '../src/adapters/db/pglite.js';
import { openPostgres } from '../src/adapters/db/postgres.js';
import { onPostgres } from './support/database.js';
import { buildLatchkey, type Latchkey, PASSWORD, uniqueEmail, useDatabase } from './support/harness.js';

/**
 * Issue #21: a plain password login (no MFA, no eviction, no rehash, no notice) costs at most 4
 * SQL round trips, counted on the wire by the benchmark's proxy (bench/pg-proxy.ts: every Sync,
 * Flush and simple Query the client sends is one). PostgreSQL only: PGlite has no wire.
 */
describe.skipIf(!onPostgres)('round trips of a password login on PostgreSQL', () => {
  const database = useDatabase();
  let proxy: CountingProxy;
  let opened: OpenedDatabase;
  let latchkey: Latchkey;

  beforeAll(async () => {
    const direct = new URL(database.current.directUrl!);
    proxy = await CountingProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
    const proxied = new URL(direct);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    opened = openPostgres(proxied.toString(), { max: 4 });
    latchkey = await buildLatchkey({
      db: opened.db,
      reopen: () => Promise.reject(new Error('not here')),
      close: () => opened.close(),
    });
  });
  afterAll(async () => {
    await opened?.close();
    await proxy?.close();
  });

  const post = (path: string, body: unknown) =>
    latchkey.app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'round-trip-test/1.0' },
      body: JSON.stringify(body),
    });

  async function countLogins(email: string, logins: number): Promise<WireCounts> {
    proxy.reset();
    for (let i = 0; i < logins; i++) {
      const response = await post('/v1/auth/login', { email, password: PASSWORD });
      expect(response.status).toBe(200);
    }
    return proxy.snapshot();
  }

  it('a plain successful login: at most 4 round trips', async () => {
    const email = uniqueEmail('round-trips');
    expect((await post('/v1/auth/register', { email, password: PASSWORD })).status).toBe(201);
    // Warm: the first login (prepared statements parsed once per connection of the pool).
    await countLogins(email, 8);
    const logins = 10;
    const counts = await countLogins(email, logins);
    const perLogin = { roundTrips: counts.roundTrips / logins, statements: counts.statements / logins };
    console.log(
      `login: ${perLogin.statements} statements, ${perLogin.roundTrips} round trips`,
      counts.byType,
    );
    expect(perLogin.roundTrips).toBeLessThanOrEqual(4);
  });
});
