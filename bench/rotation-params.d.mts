import type { RotationTemplate } from './sql-baseline.js';

export function rotationParams(
  template: RotationTemplate,
  presentedHash: string,
  successorHash: string,
  now: Date,
): unknown[];
