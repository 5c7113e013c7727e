import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { describeError } from '../src/lib/errors.js';
import { useDatabase } from './support/harness.js';

/** Error log lines never carry a failed query's parameters (emails, hashes, IPs). */
const database = useDatabase();

describe('describeError', () => {
  it("keeps the driver's message and code of a failed query, and drops its parameters", async () => {
    const secret = 'alice-secret@example.com';
    const error = await database.current.db
      .execute(sql`SELECT * FROM no_such_table WHERE email = ${secret}`)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const line = describeError(error);
    expect(line).toContain('no_such_table');
    expect(line).not.toContain(secret);
  });

  it('names other errors with their message', () => {
    expect(describeError(new TypeError('boom'))).toBe('TypeError: boom');
    expect(describeError('a string')).toBe('string');
  });
});
