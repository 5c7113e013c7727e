import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkSync, type Diagnostics } from 'recheck';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

/**
 * ReDoS audit (issue 15 §2; OWASP "Regular expression Denial of Service"): every regular
 * expression written in src/ — literals, and `RegExp(...)` / `new RegExp(...)` calls — is
 * found with the TypeScript compiler (not grep, so none hides behind formatting) and checked
 * by recheck, a ReDoS checker that proves a pattern linear or builds an attack string.
 * A pattern recheck calls vulnerable (polynomial or exponential backtracking) fails the test,
 * as does a `RegExp` built from something other than string literals, which nobody can audit.
 * zod's built-in formats that schemas in src/ run on request input are checked too.
 *
 * recheck runs with its pure-JS backend: no JVM or native binary needed, same verdict.
 */

process.env.RECHECK_BACKEND ??= 'pure';

const SRC = join(import.meta.dirname, '..', 'src');

interface FoundRegex {
  /** `src/…:line`. */
  where: string;
  source: string;
  flags: string;
}

interface UnauditableRegex {
  where: string;
  code: string;
}

const literalText = (node: ts.Node | undefined): string | undefined =>
  node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;

/** Every regex of one source text: literals and RegExp constructor calls with literal arguments. */
function collectRegexes(fileName: string, text: string) {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: FoundRegex[] = [];
  const unauditable: UnauditableRegex[] = [];
  const where = (node: ts.Node) =>
    `${fileName}:${file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1}`;
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = node.getText(file);
      const end = literal.lastIndexOf('/');
      found.push({ where: where(node), source: literal.slice(1, end), flags: literal.slice(end + 1) });
    } else if (
      (ts.isNewExpression(node) || ts.isCallExpression(node)) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'RegExp'
    ) {
      const [pattern, flags] = node.arguments ?? [];
      const source = literalText(pattern);
      const flagText = flags === undefined ? '' : literalText(flags);
      if (source !== undefined && flagText !== undefined) {
        found.push({ where: where(node), source, flags: flagText });
      } else {
        unauditable.push({ where: where(node), code: node.getText(file) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return { found, unauditable };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(c|m)?tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function collectAll() {
  const found: FoundRegex[] = [];
  const unauditable: UnauditableRegex[] = [];
  for (const path of sourceFiles(SRC)) {
    const name = relative(join(SRC, '..'), path).split('\\').join('/');
    const result = collectRegexes(name, readFileSync(path, 'utf8'));
    found.push(...result.found);
    unauditable.push(...result.unauditable);
  }
  return { found, unauditable };
}

// The checker's own limits: generous enough that no verdict is `unknown` for our patterns.
const CHECK_PARAMS = { timeout: 10_000 } as const;

const verdict = (diagnostics: Diagnostics): string => {
  if (diagnostics.status === 'safe') return 'safe';
  if (diagnostics.status === 'vulnerable') {
    return `vulnerable (${diagnostics.complexity.type}), attack: ${diagnostics.attack.pattern}`;
  }
  return `unknown (${diagnostics.error.kind})`;
};

/** zod formats that src/ schemas run on request input (z.uuid() on path ids, z.ipv4/6 on addresses). */
const ZOD_FORMATS_ON_INPUT = { uuid: z.regexes.uuid(), ipv4: z.regexes.ipv4, ipv6: z.regexes.ipv6 };

describe('ReDoS audit of every regex in src/', () => {
  const { found, unauditable } = collectAll();

  it('finds the regexes (the collector works: a sanity floor, not an exact count)', () => {
    expect(found.length).toBeGreaterThan(20);
    expect(found.some((regex) => regex.where.startsWith('src/http/schemas.ts'))).toBe(true);
  });

  it('every RegExp is built from literals, so that it can be audited', () => {
    expect(unauditable).toEqual([]);
  });

  it('no regex in src/ backtracks super-linearly (recheck finds no attack string)', () => {
    const unique = new Map<string, FoundRegex[]>();
    for (const regex of found) {
      const key = `/${regex.source}/${regex.flags}`;
      unique.set(key, [...(unique.get(key) ?? []), regex]);
    }
    const report = [...unique].map(([key, places]) => {
      const [first] = places;
      return {
        key,
        where: places.map((place) => place.where),
        verdict: verdict(checkSync(first!.source, first!.flags, CHECK_PARAMS)),
      };
    });
    // REGEX_AUDIT_REPORT=1 prints every pattern, where it is and its verdict.
    if (process.env.REGEX_AUDIT_REPORT) console.log(JSON.stringify(report, null, 1));
    const unsafe = report.filter((entry) => entry.verdict !== 'safe');
    expect(unsafe, JSON.stringify(unsafe, null, 2)).toEqual([]);
    // recheck is CPU-bound (~100 patterns): on a busy 2-core machine it overran vitest's 30 s.
  }, 180_000);

  it.each(Object.entries(ZOD_FORMATS_ON_INPUT))('zod format %s is linear', (_name, regex) => {
    expect(verdict(checkSync(regex.source, regex.flags, CHECK_PARAMS))).toBe('safe');
  });
});

describe('the audit catches a vulnerable regex (controls)', () => {
  it('the old registration email regex, written in a source file, is found and called vulnerable', () => {
    const { found } = collectRegexes(
      'src/example.ts',
      "export const E = z.string().regex(/^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$/, 'must be an email address');",
    );
    expect(found).toEqual([
      { where: 'src/example.ts:1', source: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$', flags: '' },
    ]);
    expect(verdict(checkSync(found[0]!.source, found[0]!.flags, CHECK_PARAMS))).toMatch(
      /^vulnerable \(polynomial\)/,
    );
  });

  it('RegExp constructor calls: literal ones are checked, computed ones are reported', () => {
    const { found, unauditable } = collectRegexes(
      'src/example.ts',
      "const a = new RegExp('^(a+)+$', 'i');\nconst b = RegExp(`x*`);\nconst c = new RegExp(userText);",
    );
    expect(found.map((regex) => [regex.source, regex.flags])).toEqual([
      ['^(a+)+$', 'i'],
      ['x*', ''],
    ]);
    expect(verdict(checkSync('^(a+)+$', 'i', CHECK_PARAMS))).toMatch(/^vulnerable \(exponential\)/);
    expect(unauditable.map((regex) => regex.code)).toEqual(['new RegExp(userText)']);
  });
});
