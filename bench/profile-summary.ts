import { readFile } from 'node:fs/promises';

/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by
 * package / source file, as shares of the sampled time. Also runnable on its own:
 * `npx tsx bench/profile-summary.ts <file.cpuprofile>`.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  /** Sampled time the main thread was not idle; the shares below are of this. */
  busyMs: number;
  byCategory: { name: string; ms: number; share: number }[];
  byFunction: { name: string; ms: number; share: number }[];
}

/** Where a frame comes from: a package, one of our files, Node's internals, or V8's pseudo-frames. */
function categoryOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native / builtin)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/(src\/.*|bench\/.*)$/.exec(url);
  if (ours) return ours[1]!;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/([^/]+).*/, 'node:$1');
  return url;
}

/** `skipMs`: leave out the first milliseconds of the profile (the server's start-up). */
export async function summarizeProfile(file: string, top = 20, skipMs = 0): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // Self time per node from the samples and their time deltas (µs).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let elapsedUs = 0;
  for (let i = 0; i < samples.length; i++) {
    elapsedUs += deltas[i] ?? 0;
    if (elapsedUs < skipMs * 1000) continue;
    const delta = deltas[i + 1] ?? deltas[i] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, delta));
  }
  const sampled = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  for (const [id, us] of selfUs) if (byId.get(id)?.callFrame.functionName === '(idle)') idle += us;
  const total = sampled - idle;
  const functions = new Map<string, number>();
  const categories = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const category = categoryOf(url, functionName);
    const name = `${functionName || '(anonymous)'} ${url ? `${category}:${lineNumber + 1}` : ''}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + us);
    categories.set(category, (categories.get(category) ?? 0) + us);
  }
  const rank = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  return {
    file,
    sampledMs: sampled / 1000,
    busyMs: total / 1000,
    byCategory: rank(categories),
    byFunction: rank(functions),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const lines = [
    `CPU profile ${summary.file}: ${(summary.sampledMs / 1000).toFixed(1)} s sampled, main thread busy ${(summary.busyMs / 1000).toFixed(1)} s (${((summary.busyMs / summary.sampledMs) * 100).toFixed(0)} %); shares of the busy time`,
  ];
  lines.push('  self time by package / file:');
  for (const row of summary.byCategory) {
    lines.push(
      `    ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`,
    );
  }
  lines.push('  self time by function:');
  for (const row of summary.byFunction) {
    lines.push(
      `    ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  for (const file of process.argv.slice(2)) console.log(formatProfile(await summarizeProfile(file, 25)));
}
