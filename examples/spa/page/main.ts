import { createLatchkeyClient, LatchkeyError, type Session } from '@latchkey/client';

/**
 * The page's script, bundled by esbuild into dist/main.js. The client talks to Latchkey
 * through this site's own /v1/* (server.ts proxies it), so the refresh token is a
 * first-party HttpOnly cookie this script never sees; the access token lives in memory only.
 */
const client = createLatchkeyClient({
  baseUrl: location.origin,
  delivery: 'cookie',
  onSessionEnded: () => showSignedOut('Your session has ended. Sign in again.'),
});

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const signedOut = $('signed-out');
const signedIn = $('signed-in');
const loginForm = $<HTMLFormElement>('login');
const mfaForm = $<HTMLFormElement>('mfa');
const errorLine = $('error');
let mfaToken: string | undefined;

const describe = (error: unknown) =>
  error instanceof LatchkeyError ? error.description : 'Latchkey could not be reached. Try again.';

function showSignedOut(message = 'Not signed in.'): void {
  status.textContent = message;
  signedIn.hidden = true;
  signedOut.hidden = false;
  loginForm.hidden = false;
  mfaForm.hidden = true;
  mfaToken = undefined;
}

/** Every value goes in through textContent: nothing from the server is parsed as HTML. */
function sessionItem(session: Session): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.sessionId = session.id;
  const device = session.device_name ?? session.user_agent ?? 'Unknown device';
  item.textContent = `${device}${session.location ? ` (${session.location})` : ''}, active ${new Date(
    session.last_active_at,
  ).toLocaleString()}`;
  if (session.current) {
    item.append(' — this device');
  } else {
    const revoke = document.createElement('button');
    revoke.type = 'button';
    revoke.textContent = 'Sign out';
    revoke.addEventListener('click', async () => {
      try {
        await client.revokeSession(session.id);
        await showSignedIn();
      } catch (error) {
        status.textContent = describe(error);
      }
    });
    item.append(revoke);
  }
  return item;
}

async function showSignedIn(): Promise<void> {
  const [me, sessions] = await Promise.all([client.me(), client.sessions()]);
  $('who').textContent = me.email;
  $('sessions').replaceChildren(...sessions.map(sessionItem));
  status.textContent = me.mfa_enabled ? 'Signed in (two-factor on).' : 'Signed in.';
  errorLine.textContent = '';
  signedOut.hidden = true;
  signedIn.hidden = false;
}

loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(loginForm);
  errorLine.textContent = '';
  try {
    const result = await client.login(String(form.get('email')), String(form.get('password')));
    if ('mfa_required' in result) {
      mfaToken = result.mfa_token;
      loginForm.hidden = true;
      mfaForm.hidden = false;
      status.textContent = 'Enter the code from your authenticator app.';
      return;
    }
    loginForm.reset();
    await showSignedIn();
  } catch (error) {
    errorLine.textContent = describe(error);
  }
});

mfaForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!mfaToken) return showSignedOut();
  try {
    await client.loginMfa(mfaToken, { code: String(new FormData(mfaForm).get('code')) });
    mfaForm.reset();
    await showSignedIn();
  } catch (error) {
    errorLine.textContent = describe(error);
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await client.logout();
  } finally {
    showSignedOut('Signed out.');
  }
});

// A reload keeps the session: the refresh cookie gets a new access token.
client
  .refresh()
  .then(showSignedIn)
  .catch(() => showSignedOut());
