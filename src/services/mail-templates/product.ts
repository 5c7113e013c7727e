import { DEFAULT_BRAND_NAME } from '../../domain/brand.js';

/**
 * How a mail names the product inside a sentence. Under the default brand name ("Account", a
 * neutral word) "your Account account" or "Reset your Account password" would read wrong, so
 * the name is left out there: "your account", "Reset your password". Any other name is kept:
 * "your Acme account", "Reset your Acme password".
 */
export function isDefaultProductName(productName: string): boolean {
  return productName.trim().toLowerCase() === DEFAULT_BRAND_NAME.toLowerCase();
}

/** "Acme " before a noun, or nothing under the default name: `your ${named(p)}password`. */
export function named(productName: string): string {
  return isDefaultProductName(productName) ? '' : `${productName} `;
}
