import type { SessionView } from '../ports/store.js';

/**
 * A session as GET /v1/sessions shows it (API.md); `current` only when there is a caller's
 * session to compare with (the CLI has none).
 */
export const sessionJson = (session: SessionView, currentSessionId?: string) => ({
  id: session.id,
  device_name: session.deviceName,
  ip_address: session.ipAddress,
  user_agent: session.userAgent,
  location: session.location,
  created_at: session.createdAt.toISOString(),
  last_active_at: session.lastActiveAt.toISOString(),
  expires_at: session.expiresAt.toISOString(),
  ...(currentSessionId !== undefined ? { current: session.id === currentSessionId } : {}),
  remembered: session.remembered,
  acr: session.acr,
  key_bound: session.keyBound,
});
