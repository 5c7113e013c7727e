/**
 * `value` without the trailing runs of `char`, without a regex: `/\/+$/` backtracks
 * quadratically on a long run of slashes followed by anything else, and a lookbehind
 * spelling of it needs Safari 16.4 in the browser client.
 */
export function trimEnd(value: string, char: string): string {
  let end = value.length;
  while (end > 0 && value[end - 1] === char) end--;
  return value.slice(0, end);
}
