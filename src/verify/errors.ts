/** The signing keys, the feed or the DPoP replay cache could not be used: answer 503, not 401. */
export class VerifierUnavailableError extends Error {
  readonly status = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VerifierUnavailableError';
  }
}
