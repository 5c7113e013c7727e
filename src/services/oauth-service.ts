import { DEFAULT_CLOCK_TOLERANCE_SECONDS } from '../domain/access-token.js';
import { BearerError } from '../domain/bearer.js';
import { AuthError } from '../domain/errors.js';
import { secretChecker } from '../lib/crypto.js';
import { MINUTE, SECOND, toEpochSeconds } from '../lib/time.js';
import type { Clock } from '../ports/clock.js';
import { originOf, type RequestOrigin, type SecurityEventLog, type SessionStore } from '../ports/store.js';
import type { AccessTokens } from './access-tokens.js';
import { DEFAULT_CLIENT_ID } from './auth-service.js';
import { hashRefreshToken, isWellFormedRefreshToken } from './refresh-tokens.js';
import type { SessionService } from './session-service.js';

/** RFC 7662 §2.2 response: `{active: false}` and nothing else for any token that is not live. */
export type Introspection = { active: false } | ({ active: true } & Record<string, unknown>);

export interface RevokedSessionsFeed {
  /** Seconds back from `generated_at` the feed covers: access-token lifetime plus margins. */
  windowSeconds: number;
  sessions: { sid: string; revoked_at: string }[];
}

/**
 * The OAuth side of the server for clients and resource servers we did not write:
 * revocation (RFC 7009), introspection (RFC 7662) and the revoked-sessions feed. The token
 * endpoint is the same rotation as /v1/auth/refresh (AuthService.refresh).
 */
export function createOAuthService(deps: {
  store: Pick<SessionStore, 'findRefreshTokens' | 'listRevokedSessions' | 'revokeSession'> & SecurityEventLog;
  clock: Clock;
  accessTokens: AccessTokens;
  sessions: Pick<SessionService, 'liveClaims'>;
  issuer: string;
  accessTokenTtlSeconds: number;
  introspectionClients: { id: string; secret: string }[];
}) {
  const { store, clock, accessTokens } = deps;
  const checkClient = secretChecker(
    new Map(deps.introspectionClients.map((client) => [client.id, client.secret])),
  );
  // Any token of a session revoked earlier than this has expired: access-token lifetime,
  // verifiers' clock tolerance, and a margin for the key ring's one-minute cache.
  const feedWindowMs =
    deps.accessTokenTtlSeconds * SECOND + DEFAULT_CLOCK_TOLERANCE_SECONDS * SECOND + MINUTE;

  /** A well-formed refresh token of ours, whatever its state, or undefined. */
  async function findRefreshToken(token: string) {
    if (!isWellFormedRefreshToken(token)) return undefined;
    const [row] = await store.findRefreshTokens([await hashRefreshToken(token)]);
    return row;
  }

  /** `check` on the token, or undefined when it refuses it (BearerError). */
  async function unlessRefused<T>(
    check: (token: string) => Promise<T>,
    token: string,
  ): Promise<T | undefined> {
    try {
      return await check(token);
    } catch (error) {
      if (error instanceof BearerError) return undefined;
      throw error;
    }
  }

  async function authenticateIntrospectionClient(id: string, secret: string): Promise<void> {
    if (!(await checkClient(id, secret))) {
      throw new AuthError('invalid_client', 'Client authentication failed');
    }
  }

  /** RFC 7662 §2.2; the session must be live, which offline verification cannot tell. */
  async function introspect(token: string, hint: string | undefined): Promise<Introspection> {
    const now = clock.now();
    const asRefreshToken = async (): Promise<Introspection | undefined> => {
      const row = await findRefreshToken(token);
      if (!row || row.rotatedAt || row.revokedAt || row.expiresAt <= now) return undefined;
      return {
        active: true,
        token_type: 'refresh_token',
        iss: deps.issuer,
        sub: row.userId,
        client_id: row.clientId,
        sid: row.sessionId,
        iat: toEpochSeconds(row.issuedAt),
        exp: toEpochSeconds(row.expiresAt),
        auth_time: toEpochSeconds(row.authTime),
        acr: row.acr,
        amr: row.amr,
        ...(row.dpopJkt ? { cnf: { jkt: row.dpopJkt } } : {}),
      };
    };
    const asAccessToken = async (): Promise<Introspection | undefined> => {
      // The server's own check: signature, claims and a live session.
      const claims = await unlessRefused(deps.sessions.liveClaims, token);
      // RFC 9449 §6.2: a bound token introspects as DPoP, with its `cnf`.
      return claims && { active: true, token_type: claims.cnf ? 'DPoP' : 'Bearer', ...claims };
    };
    // The hint only orders the lookups (RFC 7662 §2.1).
    const order =
      hint === 'refresh_token' ? [asRefreshToken, asAccessToken] : [asAccessToken, asRefreshToken];
    for (const attempt of order) {
      const result = await attempt();
      if (result) return result;
    }
    return { active: false };
  }

  /**
   * RFC 7009: revokes the session of a refresh token or of an access token (its refresh
   * token too, §2.1), if it was issued to `clientId`. Unknown, expired and already revoked
   * tokens are not errors (§2.2).
   */
  async function revoke(token: string, clientId: string | undefined, origin: RequestOrigin): Promise<void> {
    const client = clientId ?? DEFAULT_CLIENT_ID;
    const now = clock.now();
    const row = await findRefreshToken(token);
    const owner = row
      ? { sessionId: row.sessionId, userId: row.userId, clientId: row.clientId }
      : await unlessRefused(accessTokens.verify, token).then(
          (claims) => claims && { sessionId: claims.sid, userId: claims.sub, clientId: claims.client_id },
        );
    if (!owner) return;
    if (owner.clientId !== client) {
      throw new AuthError('unauthorized_client', 'This token was not issued to this client');
    }
    const revoked = await store.revokeSession({
      sessionId: owner.sessionId,
      userId: owner.userId,
      now,
      reason: 'logout',
    });
    if (revoked) {
      await store.recordSecurityEvent({
        userId: owner.userId,
        sessionId: owner.sessionId,
        type: 'session_revoked',
        ...originOf(origin),
        details: { via: 'oauth_revoke', client_id: client },
        at: now,
      });
    }
  }

  async function revokedSessions(): Promise<RevokedSessionsFeed> {
    const since = new Date(clock.now().getTime() - feedWindowMs);
    const rows = await store.listRevokedSessions(since);
    return {
      windowSeconds: feedWindowMs / SECOND,
      sessions: rows.map((row) => ({ sid: row.sessionId, revoked_at: row.revokedAt.toISOString() })),
    };
  }

  return { authenticateIntrospectionClient, introspect, revoke, revokedSessions };
}

export type OAuthService = ReturnType<typeof createOAuthService>;
