import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import { applyHeapGrowth } from '../src/entry/node-config.js';
import { launchFlags } from '../src/entry/node-flags.js';

/** The flags applyHeapGrowth sets for an environment. */
const flagsFor = (env: Record<string, string>) => {
  const flags: string[] = [];
  applyHeapGrowth(parseConfig(env), (flag) => flags.push(flag));
  return flags;
};

/**
 * Promotes garbage the way requests in flight do (a window of live objects that survive young
 * collections, dropped later) in a plain node child, and prints the largest heap seen, in MiB.
 */
const CHURN = `
const v8 = require('node:v8');
if (process.argv[1]) v8.setFlagsFromString(process.argv[1]);
let peak = 0;
const window = [];
for (let i = 0; i < 1.2e6; i++) {
  window.push({ a: 'x'.repeat(50) + i, b: [i, i + 1, i + 2] });
  if (window.length > 60000) window.splice(0, 30000);
  if (i % 10000 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
}
console.log(Math.round(peak / 2 ** 20));
`;
/**
 * With the V8 flags the server's entry gives itself at launch on this Node (node-flags.ts; none
 * on Node 20): on Node 26, V8's 64 MiB young generation otherwise blurs the old generation's
 * growth (unset 181-196 MiB, set 125-155: not always under 85 %; with the flags 127-151 and 74-81).
 */
const SERVER_LAUNCH = launchFlags({
  version: process.version,
  execArgv: [],
  nodeOptions: undefined,
  pgliteBaseline: false,
});
const peakHeapMiB = (flag?: string) =>
  Number(
    execFileSync(process.execPath, [...SERVER_LAUNCH, '-e', CHURN, ...(flag ? [flag] : [])], {
      encoding: 'utf8',
    }).trim(),
  );

describe('V8 heap growth (HEAP_GROWTH_PERCENT)', () => {
  it('the server sets --heap-growing-percent=50 by default, the configured value, or nothing at 0', () => {
    expect(flagsFor({})).toEqual(['--heap-growing-percent=50']);
    expect(flagsFor({ HEAP_GROWTH_PERCENT: '120' })).toEqual(['--heap-growing-percent=120']);
    expect(flagsFor({ HEAP_GROWTH_PERCENT: '0' })).toEqual([]);
    expect(() => parseConfig({ HEAP_GROWTH_PERCENT: '401' })).toThrow(/HEAP_GROWTH_PERCENT/);
  });

  it("this Node's V8 knows the flag (an unknown one is only a line on stderr)", () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    expect(options).toContain('--heap-growing-percent');
  });

  it('set at run time, it keeps promoted garbage from growing the heap as far', () => {
    const [flag] = flagsFor({});
    // The median of three runs each, alternating: one run's peak depends on when V8 happened to
    // collect (on Node 26 one unset run peaked at 112 MiB where the others reach 147-196; a CI
    // run failed on it, 97 set against 112).
    const median = (values: number[]) => values.sort((a, b) => a - b)[1]!;
    const runs = [0, 1, 2].map(() => [peakHeapMiB(), peakHeapMiB(flag)] as const);
    const unset = median(runs.map(([without]) => without));
    const set = median(runs.map(([, withFlag]) => withFlag));
    // Measured: about 130 MiB unset, 85 MiB set. The assertion only needs the direction.
    expect(set).toBeLessThan(unset * 0.85);
  }, 60_000);
});
