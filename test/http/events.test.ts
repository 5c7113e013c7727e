import { beforeAll, describe, expect, it } from 'vitest';
import { call, login, refresh, registerUser } from '../support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from '../support/harness.js';

const database = useDatabase();
let lk: Latchkey;
beforeAll(async () => {
  lk = await buildLatchkey(database.current);
});

describe('GET /v1/users/me/events', () => {
  it('shows the user what happened to the account, newest first', async () => {
    const { email } = await registerUser(lk.app);
    lk.clock.advance(1000);
    const first = await login(lk.app, email, { device_name: 'phone' });
    lk.clock.advance(1000);
    await refresh(lk.app, first.refresh_token);
    lk.clock.advance(11_000);
    await refresh(lk.app, first.refresh_token); // replay after the grace window: reuse
    lk.clock.advance(1000);
    const second = await login(lk.app, email);
    const res = await call(lk.app, '/v1/users/me/events', { token: second.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json.events.map((event: { type: string }) => event.type)).toEqual([
      'login_succeeded',
      'refresh_token_reused',
      'login_succeeded',
      'user_registered',
    ]);
    const reuse = res.json.events[1];
    expect(reuse).toMatchObject({ session_id: first.session_id, ip_address: '203.0.113.7' });
    expect(new Date(reuse.created_at).toISOString()).toBe(reuse.created_at);
    expect(JSON.stringify(res.json)).not.toContain(first.refresh_token);
  });

  it('pages with next_cursor without losing or repeating an event, even with equal timestamps', async () => {
    const { email } = await registerUser(lk.app);
    let pair = await login(lk.app, email);
    for (let i = 0; i < 6; i++) pair = await login(lk.app, email); // same instant: ties on created_at
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const path: string = `/v1/users/me/events?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await call(lk.app, path, { token: pair.access_token });
      expect(res.status).toBe(200);
      expect(res.json.events.length).toBeLessThanOrEqual(3);
      seen.push(...res.json.events.map((event: { id: string }) => event.id));
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(8); // registered + 7 logins
    expect(new Set(seen).size).toBe(8);
  });

  it('shows only the caller’s own events', async () => {
    const alice = await registerUser(lk.app);
    const bob = await registerUser(lk.app);
    await login(lk.app, bob.email);
    const pair = await login(lk.app, alice.email);
    const res = await call(lk.app, '/v1/users/me/events', { token: pair.access_token });
    expect(res.json.events).toHaveLength(2);
  });

  it('refuses a bad limit or cursor with a 400, and a missing token with a 401', async () => {
    const { email } = await registerUser(lk.app);
    const pair = await login(lk.app, email);
    // A well-formed cursor whose id is no UUID, or whose date PostgreSQL cannot hold, too.
    const forged = [
      `2030-01-01T00:00:00.000Z|${'-'.repeat(36)}`,
      '-271821-04-20T00:00:00.000Z|00000000-0000-4000-8000-000000000000',
    ].map((raw) => `cursor=${encodeURIComponent(btoa(raw))}`);
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'cursor=%%%',
      'cursor=bm90LWEtY3Vyc29y',
      ...forged,
    ]) {
      const res = await call(lk.app, `/v1/users/me/events?${query}`, { token: pair.access_token });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_request');
    }
    expect((await call(lk.app, '/v1/users/me/events')).status).toBe(401);
  });
});
