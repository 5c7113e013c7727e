import { randomUUID } from 'node:crypto';

/**
 * The parameters of one rotation from the captured statement's template (sql-baseline.ts's
 * RotationTemplate): per call only the hashes, the time and the new row's id change. Plain
 * JavaScript, so that bench/prototype.mjs runs it on bare node as the bench process does.
 */
export function rotationParams(template, presentedHash, successorHash, now) {
  return template.slots.map((slot, i) => {
    switch (slot) {
      case 'presented':
        return presentedHash;
      case 'successor':
        return successorHash;
      case 'now':
        return now.toISOString();
      case 'notAfter':
        return new Date(now.getTime() + template.refreshTokenTtlMs).toISOString();
      case 'id':
        return randomUUID();
      default:
        return template.values[i];
    }
  });
}
