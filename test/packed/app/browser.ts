/**
 * The client in a browser: .ci/packages.sh bundles this with esbuild from the consumer
 * project (so `@latchkey/client` is the installed tarball) and test/packed/run-browser.mjs
 * loads it in Chromium on a page whose origin proxies /v1/* to Latchkey (cookie delivery:
 * the refresh token is an HttpOnly cookie the page never sees, and a refresh uses it). The
 * page calls `window.packedProof(email, password)`.
 */
import { createLatchkeyClient } from '@latchkey/client';

async function packedProof(email: string, password: string) {
  const client = createLatchkeyClient({ baseUrl: location.origin, delivery: 'cookie' });
  const login = await client.login(email, password, { deviceName: 'packed browser proof' });
  if (!('access_token' in login)) throw new Error('unexpected MFA challenge');
  const me = await client.me();
  const first = client.accessToken;
  await client.refresh();
  return {
    refreshed: client.accessToken !== undefined && client.accessToken !== first,
    id: me.id,
    email: me.email,
    refreshTokenInBody: 'refresh_token' in login && login.refresh_token !== undefined,
    cookieVisible: document.cookie.includes('refresh'),
  };
}

Object.assign(window, { packedProof });
