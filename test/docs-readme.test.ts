import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The README is the front door (issue #19, Docs): short enough to read, and a way into every
 * page of docs/. The reference lives in docs/, each page reachable from the README's table.
 */
const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const DOCS = readdirSync(join(ROOT, 'docs')).filter(
  (name) => name.endsWith('.md') && statSync(join(ROOT, 'docs', name)).isFile(),
);

describe('the README, front door of the docs', () => {
  it('stays under 15 KB', () => {
    expect(Buffer.byteLength(README)).toBeLessThanOrEqual(15 * 1024);
  });

  it('links every page of docs/', () => {
    expect(DOCS.length).toBeGreaterThan(10);
    const linked = new Set([...README.matchAll(/\]\(docs\/([\w.-]+\.md)(?:#[\w-]*)?\)/g)].map((m) => m[1]));
    expect(DOCS.filter((name) => !linked.has(name))).toEqual([]);
  });

  it('says the two commands, and no issue-number status table', () => {
    expect(README).toContain('npm install && npm start');
    expect(README).toContain('npm install && npm test');
    expect(README).not.toMatch(/^\|[^\n]*issue #\d+/m);
  });

  it('every docs/ page starts with one title and has no second one', () => {
    const titles = DOCS.map((name) => {
      const text = readFileSync(join(ROOT, 'docs', name), 'utf8').replace(/```[\s\S]*?```/g, '');
      return { name, first: text.startsWith('# '), count: text.match(/^# /gm)?.length ?? 0 };
    });
    expect(titles.filter(({ first, count }) => !first || count !== 1)).toEqual([]);
  });
});
