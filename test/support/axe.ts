import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

/** axe-core's rule tags for WCAG 2.0, 2.1 and 2.2 A and AA, and its best practices. */
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Accessibility (issue #20: WCAG 2.2 AA, checked with axe-core) of the page as it is now:
 * its serious and critical findings, each labelled, for the caller to collect and assert
 * empty at the end (so one run lists all of them). axe is put in through the DevTools
 * protocol (page.evaluate), which the pages' strict CSP does not govern, so the pages need
 * no exception for it. A page whose text contrast axe did not measure is a finding too: it
 * did not really look.
 */
export async function axeFindings(page: Page, label: string): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(await axeSource);
  const result = await page.evaluate(async (tags) => {
    type Rule = { id: string; impact?: string | null; help: string; nodes: { target: unknown[] }[] };
    const axe = (
      window as unknown as {
        axe: { run(c: Document, o: object): Promise<{ violations: Rule[]; passes: Rule[] }> };
      }
    ).axe;
    const { violations, passes } = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return {
      passed: passes.map((rule) => rule.id),
      violations: violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => n.target.join(' ')),
        })),
    };
  }, AXE_TAGS);
  const findings: string[] = [];
  if (!result.passed.includes('color-contrast')) findings.push(`${label}: axe measured no contrast`);
  for (const v of result.violations)
    findings.push(`${label}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.slice(0, 5).join(', ')}`);
  return findings;
}

/** The page in the light and the dark scheme: the findings of both. */
export async function axeBothSchemes(page: Page, label: string): Promise<string[]> {
  const light = await axeFindings(page, label);
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await axeFindings(page, `${label}, dark`);
  await page.emulateMedia({ colorScheme: 'light' });
  return [...light, ...dark];
}
