/**
 * What a failure means to the caller, whichever adapter raised it: `unavailable` when a backing
 * service (the database) is down or refused the work before doing it, so the request may be
 * tried again (HTTP 503). Undefined when the adapter does not recognise the error.
 *
 * The adapter that raised the error classifies it (src/adapters/db/failure-kind.ts knows the
 * drivers' codes); the HTTP layer maps the kind and never sees a driver's codes.
 */
export type FailureKind = 'unavailable';

export type ClassifyFailure = (error: unknown) => FailureKind | undefined;
