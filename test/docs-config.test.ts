import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../src/config.js';

/**
 * Every variable the configuration schema reads is explained somewhere in docs/ (the table of
 * docs/configuration.md, or the mail and webhook pages it points to), by its name in backticks.
 * `.env.example` lists them with their defaults (test/config.test.ts); this says what each does.
 */
const DOCS = join(import.meta.dirname, '..', 'docs');
const text = readdirSync(DOCS)
  .filter((name) => name.endsWith('.md'))
  .map((name) => readFileSync(join(DOCS, name), 'utf8'))
  .join('\n');

describe('the configuration variables in docs/', () => {
  it('names every variable of the schema', () => {
    const names = Object.keys(EnvSchema.shape);
    expect(names.length).toBeGreaterThan(50);
    expect(names.filter((name) => !text.includes(`\`${name}\``))).toEqual([]);
  });
});
