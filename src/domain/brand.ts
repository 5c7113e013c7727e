/**
 * The product's name when none is configured (BRAND_NAME, src/config/brand.ts): a neutral
 * word, never "Latchkey". Here in the domain because mails word sentences around it
 * (src/services/mail-templates/product.ts) and services read no configuration values.
 */
export const DEFAULT_BRAND_NAME = 'Account';
