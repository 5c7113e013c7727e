import {
  type AccessTokenClaims,
  type AssuranceRequirement,
  authenticateRequest,
  errorResponseFor,
  type Verifier,
} from '@latchkey/verify';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

/** What `requireAccessToken` leaves for the route: `res.locals.accessToken`. */
export interface AccessTokenLocals {
  accessToken: Readonly<AccessTokenClaims>;
}

/**
 * Express middleware from the kit's framework-neutral helpers: `authenticateRequest` checks
 * the Bearer token (signature, claims, the revocation feed) and the route's assurance needs
 * (RFC 9470 `acr` / `max_age`); `errorResponseFor` turns a refusal into the RFC 6750 answer
 * Latchkey itself gives: 401 with `WWW-Authenticate`, or 503 when the keys cannot be fetched.
 */
export function requireAccessToken(
  verifier: Verifier,
  need: AssuranceRequirement = {},
): RequestHandler<Record<string, string>, unknown, unknown, unknown, AccessTokenLocals> {
  return async (req, res, next) => {
    try {
      res.locals.accessToken = await authenticateRequest(verifier, req.headers.authorization, need);
    } catch (error) {
      const refusal = errorResponseFor(error);
      if (!refusal) return next(error);
      res.status(refusal.status).set(refusal.headers).send(refusal.body);
      return;
    }
    next();
  };
}

/**
 * The same small API as the Hono example: /health is open, /me needs a valid token, and a
 * payout needs a second factor (`aal2`) used in the last 5 minutes — a password-only session
 * gets a 401 `insufficient_user_authentication` challenge, steps up on Latchkey
 * (POST /v1/auth/step-up) and retries with the new token.
 */
export function createResourceServer(verifier: Verifier) {
  const app = express();
  app.disable('x-powered-by');
  // Bodies are small here: anything over 16 KiB is refused with 413 before a route runs.
  app.use(express.json({ limit: '16kb' }));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/me', requireAccessToken(verifier), (_req, res) => {
    const token = res.locals.accessToken;
    res.json({ user_id: token.sub, session_id: token.sid, acr: token.acr });
  });

  app.post('/payouts', requireAccessToken(verifier, { acr: 'aal2', maxAge: 300 }), (_req, res) => {
    res.status(201).json({ status: 'scheduled', requested_by: res.locals.accessToken.sub });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', error_description: 'No such route' });
  });
  // Anything else that went wrong: a JSON error, never a stack trace. Express knows this is
  // the error handler by its four parameters.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res
        .status(status)
        .json({ error: 'invalid_request', error_description: 'The request could not be read' });
      return;
    }
    console.error('unexpected error:', error);
    res.status(500).json({ error: 'server_error', error_description: 'Something went wrong' });
  });

  return app;
}
