import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import {
  fullCollection,
  idleRelease,
  releaseMemoryWhenIdle,
  SECOND_COLLECTION_AFTER_MS,
} from '../src/entry/idle-memory.js';

const SECOND = SECOND_COLLECTION_AFTER_MS / 1000;

/** An idleRelease on a clock the test moves, ticking each simulated second. */
function harness(idleSeconds = 10) {
  let now = 0;
  let collections = 0;
  const release = idleRelease({ idleSeconds, collect: () => collections++, now: () => now });
  return {
    release,
    collections: () => collections,
    /** `seconds` seconds pass, one tick each; `requests` arrive in each of them. */
    pass(seconds: number, requests = 0) {
      for (let i = 0; i < seconds; i++) {
        for (let r = 0; r < requests; r++) release.onRequest();
        now += 1000;
        release.tick();
      }
    },
  };
}

describe('idle memory release (IDLE_MEMORY_RELEASE)', () => {
  it('collects after the quiet period that follows the start, and once more later, then never', () => {
    const h = harness();
    h.pass(9);
    expect(h.collections()).toBe(0);
    h.pass(1);
    expect(h.collections()).toBe(1);
    h.pass(SECOND - 1);
    expect(h.collections()).toBe(1);
    h.pass(1);
    expect(h.collections()).toBe(2);
    h.pass(600);
    expect(h.collections()).toBe(2);
  });

  it('never collects while requests keep arriving, and twice when they stop', () => {
    const h = harness();
    h.pass(300, 1);
    expect(h.collections()).toBe(0);
    h.pass(10 + SECOND);
    expect(h.collections()).toBe(2);
  });

  it('a request re-arms it: two collections per quiet period', () => {
    const h = harness(10);
    h.pass(10 + SECOND);
    expect(h.collections()).toBe(2);
    h.pass(1, 5);
    h.pass(9);
    expect(h.collections()).toBe(2); // nine quiet seconds since the request: not yet
    h.pass(1);
    expect(h.collections()).toBe(3);
    h.pass(SECOND);
    expect(h.collections()).toBe(4);
  });

  it('a request between the two collections starts the quiet period again', () => {
    const h = harness(10);
    h.pass(10);
    expect(h.collections()).toBe(1);
    h.pass(1, 1);
    h.pass(SECOND + 2);
    expect(h.collections()).toBe(1);
    h.pass(10 - SECOND - 2);
    expect(h.collections()).toBe(2);
  });

  it('a request in the last second of a quiet period starts it again', () => {
    const h = harness(10);
    h.pass(9);
    h.pass(1, 1);
    h.pass(9);
    expect(h.collections()).toBe(0);
    h.pass(1);
    expect(h.collections()).toBe(1);
  });

  it('Node gives a full collection to call, without a gc global in the process scope', () => {
    const collect = fullCollection();
    expect(typeof collect).toBe('function');
    expect(() => collect?.()).not.toThrow();
    expect('gc' in globalThis).toBe(false);
  });

  it('0 turns it off: no listener on the server, nothing to stop', () => {
    const server = new EventEmitter();
    releaseMemoryWhenIdle(server, 0)();
    expect(server.listenerCount('request')).toBe(0);
    const stop = releaseMemoryWhenIdle(server, 10);
    expect(server.listenerCount('request')).toBe(1);
    stop();
  });

  it('is configured in whole seconds, 10 by default, 0 for never', () => {
    expect(parseConfig({}).idleMemoryReleaseSeconds).toBe(10);
    expect(parseConfig({ IDLE_MEMORY_RELEASE: '0' }).idleMemoryReleaseSeconds).toBe(0);
    expect(parseConfig({ IDLE_MEMORY_RELEASE: '60' }).idleMemoryReleaseSeconds).toBe(60);
    expect(() => parseConfig({ IDLE_MEMORY_RELEASE: '-1' })).toThrow(/IDLE_MEMORY_RELEASE/);
    expect(() => parseConfig({ IDLE_MEMORY_RELEASE: '2.5' })).toThrow(/IDLE_MEMORY_RELEASE/);
  });
});
