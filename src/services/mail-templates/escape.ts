/**
 * HTML escaping for the mail templates (OWASP XSS Prevention Cheat Sheet, rule 1 and 2): every
 * value that is not a literal of the template goes through `escapeHtml`, in element content
 * and in quoted attribute values alike (the five characters that can end either are encoded).
 * Mail clients render HTML with few protections, so a name or user agent chosen by someone
 * else must never become markup.
 */
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (char) => ENTITIES[char]!);

/**
 * Text that came from a request (a user agent) and goes into a mail: control characters out
 * (no line of its own in the text part, nothing invisible) and bounded.
 */
export function plainValue(value: string, max = 200): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const flat = value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
