import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The repository stands alone (issue #19, item 2): every relative link in every Markdown file
 * resolves to a file in it, and a link to a heading of a Markdown file names one that exists.
 */
const ROOT = join(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', 'dist', '.data', '.git', '.wrangler', 'coverage']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');

const anchorsOf = (file: string) =>
  new Set(
    [
      ...readFileSync(file, 'utf8')
        .replace(/```[\s\S]*?```/g, '')
        .matchAll(/^#{1,6} (.+)$/gm),
    ].map((m) => slug(m[1]!)),
  );

describe('links in the Markdown files', () => {
  const files = markdownFiles(ROOT);

  it('finds the Markdown files (README, BENCHMARKS, docs/)', () => {
    const names = files.map((file) => relative(ROOT, file));
    expect(names).toEqual(expect.arrayContaining(['README.md', 'BENCHMARKS.md', join('docs', 'API.md')]));
  });

  it('every relative link and image resolves inside the repository, every #anchor to a heading', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
        checked += 1;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path ? join(dirname(file), decodeURIComponent(path)) : file;
        const where = `${relative(ROOT, file)} → ${target}`;
        if (!resolved.startsWith(ROOT)) broken.push(`${where} (outside the repository)`);
        else if (!existsSync(resolved)) broken.push(`${where} (no such file)`);
        else if (anchor && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor))
          broken.push(`${where} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
    // A guard against a check that reads nothing: the README alone links its screenshots and sections.
    expect(checked).toBeGreaterThan(10);
  });
});
