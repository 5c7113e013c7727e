import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { call } from './support/client.js';
import { buildLatchkey, type Latchkey, useDatabase } from './support/harness.js';

/**
 * docs/API.md is the contract, in the repository (issue #19): every endpoint its tables name is
 * served and described by /openapi.json, and every endpoint /openapi.json describes is written
 * into the contract, so neither can drift from the other.
 */

const contract = readFileSync(new URL('../docs/API.md', import.meta.url), 'utf8');
/** The first cell of every table row that starts with a method and a path. */
const contractOperations = (): string[] =>
  [...contract.matchAll(/^\| (GET|POST|PUT|PATCH|DELETE) (\/[^\s|]{1,200})/gm)].map(
    ([, method, path]) => `${method} ${path}`,
  );

const database = useDatabase();
let lk: Latchkey;
let documented: string[];

beforeAll(async () => {
  lk = await buildLatchkey(database.current, {
    env: { INTROSPECTION_CLIENTS: `rs1:${'s'.repeat(40)}`, METRICS_TOKEN: 'm'.repeat(40) },
  });
  const doc = (await call(lk.app, '/openapi.json')).json as {
    paths: Record<string, Record<string, unknown>>;
  };
  documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
});

describe('docs/API.md and /openapi.json', () => {
  it('name the same endpoints', () => {
    const named = contractOperations();
    expect(named.length).toBeGreaterThan(20);
    expect(new Set(named).size).toBe(named.length);
    expect([...named].sort()).toEqual([...documented].sort());
  });
});
