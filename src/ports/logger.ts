/** Structured logging; fields never carry a password, token, code or secret. */
export interface Logger {
  /** Detail an operator turns on with LOG_LEVEL=debug; optional for a logger that has none. */
  debug?(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
