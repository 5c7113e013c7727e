import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * `engines.node` tells the truth (issue #19): every Node line the packages admit is admitted by
 * every package a production install brings in, so `npm ci --engine-strict` passes and no
 * install prints EBADENGINE. The supported lines are the maintained LTS lines (22, 24, 26) and
 * 20.19+, which the CI machines run (end of life since April 2026: supported while they do).
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const enginesOf = (path: string): string | undefined =>
  (readJson(join(path, 'package.json')).engines as { node?: string } | undefined)?.node;

const SUPPORTED = '^20.19.0 || ^22.12.0 || >=24';

describe('engines', () => {
  it('the server and both packages declare the supported Node lines', () => {
    for (const dir of ['.', 'packages/verify', 'packages/client']) {
      expect(enginesOf(join(root, dir)), dir).toBe(SUPPORTED);
    }
  });

  it('the Node running the tests is one of them', () => {
    expect(semver.satisfies(process.versions.node, SUPPORTED)).toBe(true);
  });

  it('every production dependency admits every supported line', () => {
    // The whole production tree, the workspaces' dependencies included (npm ls --omit=dev).
    const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((line) => line.includes('node_modules'));
    expect(paths.length).toBeGreaterThan(50);
    const refusing: string[] = [];
    for (const path of paths) {
      const range = enginesOf(path);
      if (range !== undefined && !semver.subset(SUPPORTED, range)) refusing.push(`${path}: node ${range}`);
    }
    expect(refusing).toEqual([]);
  });
});
