// The account pages' passkey ceremonies (issue #20), in the browser. Not served as it is:
// scripts/passkey-script.mjs bundles it with @simplewebauthn/browser into one IIFE that the
// pages inline under their CSP nonce (src/http/pages/views/passkey-script.ts), so nothing is
// loaded from anywhere and Node and Cloudflare Workers serve the same string.
//
// Progressive enhancement, driven by data attributes; the pages work without it, and
// passkey controls stay hidden then:
// - `[data-passkey-only]`: hidden in the HTML, shown when the browser has WebAuthn.
// - `<form data-passkey="register|authenticate|autofill" data-options-url="…">` with the
//   inputs `csrf` and `response` (hidden) and a `[data-passkey-error]` (role="alert"): on
//   submit, POST the options URL, run the ceremony, put its JSON into `response` and submit
//   the form for real (the server answers with a redirect).
// - `autofill` (the sign-in page) also starts a conditional request on load, so the browser
//   offers passkeys in the autofill of the `autocomplete="username webauthn"` input (WebAuthn
//   Level 3, § 5.1.4 "conditional mediation"); its submit button runs the modal ceremony.
import {
  browserSupportsWebAuthn,
  browserSupportsWebAuthnAutofill,
  startAuthentication,
  startRegistration,
} from '@simplewebauthn/browser';

const GENERIC = 'That did not work. Reload the page and try again.';

/** A failure whose message is for the person as it is (the server's, or ours). */
class Failure extends Error {}

/** What went wrong, in words for the person; never the browser's own (often technical) text. */
const explain = (error, kind) => {
  if (error instanceof Failure) return error.message;
  switch (error?.name) {
    // Cancelled, timed out, or (signing in) no passkey for this site on this device: the
    // specification does not let the page tell these apart (WebAuthn § 13.5.7, privacy).
    case 'NotAllowedError':
      return 'The passkey request was cancelled or timed out. Try again when you are ready.';
    // The authenticator holds a credential of `excludeCredentials`: this account's already.
    case 'InvalidStateError':
      return kind === 'register'
        ? 'This passkey is registered already: this device or security key is on your account.'
        : GENERIC;
    case 'NotSupportedError':
    case 'ConstraintError':
      return 'This device or security key cannot keep a passkey for this account. Try another one.';
    case 'SecurityError':
      return 'Passkeys do not work at this address.';
    default:
      return 'The passkey did not work. Try again.';
  }
};

const showError = (form, text) => {
  const box = form.querySelector('[data-passkey-error]');
  if (box) box.textContent = text;
};

const submitButtons = (form) =>
  Array.from(form.elements).filter(
    (element) =>
      (element instanceof HTMLButtonElement || element instanceof HTMLInputElement) &&
      element.type === 'submit',
  );

const setBusy = (form, busy) => {
  for (const button of submitButtons(form)) button.disabled = busy;
  if (busy) form.setAttribute('aria-busy', 'true');
  else form.removeAttribute('aria-busy');
};

/**
 * The ceremony's options from the server: `{ options }` on success, or `{ redirect }` when the
 * answer is another page (the session ended: the sign-in page), as ACCOUNT_SCRIPT does.
 */
const fetchOptions = async (form) => {
  const csrf = form.elements.namedItem('csrf');
  let response;
  try {
    response = await fetch(new URL(form.dataset.optionsUrl, location.href), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: csrf ? csrf.value : '' }),
    });
  } catch {
    throw new Failure('The server could not be reached. Check your connection and try again.');
  }
  if (!(response.headers.get('content-type') ?? '').includes('application/json')) {
    if (response.redirected) return { redirect: response.url };
    // An HTML page in place: the form expired (403), or something else the person can only reload for.
    throw new Failure(GENERIC);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Failure(GENERIC);
  }
  if (!response.ok || !body || typeof body.options !== 'object' || body.options === null)
    throw new Failure(typeof body?.message === 'string' && body.message ? body.message : GENERIC);
  return { options: body.options };
};

/** The ceremony's result goes to the server as a normal form post; its answer is a redirect. */
const finish = (form, result) => {
  const response = form.elements.namedItem('response');
  if (!response) throw new Failure(GENERIC);
  response.value = JSON.stringify(result);
  form.submit(); // no submit event: this handler does not run again
};

/** A button's ceremony is under way (or a form is on its way): an autofill request must not abort it. */
let modal = false;

/** A form's own ceremony, started by its submit button. */
const run = async (form, kind) => {
  if (modal) return;
  modal = true;
  setBusy(form, true);
  showError(form, '');
  let leaving = false;
  try {
    if (!browserSupportsWebAuthn()) throw new Failure('This browser does not support passkeys.');
    const answer = await fetchOptions(form);
    if (answer.redirect) {
      leaving = true;
      location.assign(answer.redirect);
      return;
    }
    // Starting a ceremony aborts a pending one (WebAuthnAbortService): the autofill request.
    const result =
      kind === 'register'
        ? await startRegistration({ optionsJSON: answer.options })
        : await startAuthentication({ optionsJSON: answer.options });
    finish(form, result);
    leaving = true;
  } catch (error) {
    // AbortError: another ceremony took over; it says what happens next, not this one.
    if (error?.name !== 'AbortError') showError(form, explain(error, kind));
  } finally {
    if (!leaving) {
      modal = false;
      setBusy(form, false);
      // The modal ceremony aborted the autofill request: offer passkeys in the autofill again.
      armAutofill();
    }
  }
};

/** The sign-in page's conditional request: resolves only when the person picks a passkey. */
async function armAutofill() {
  const form = document.querySelector('form[data-passkey="autofill"]');
  if (!form) return;
  try {
    if (!(await browserSupportsWebAuthnAutofill())) return;
  } catch {
    return;
  }
  let answer;
  try {
    answer = await fetchOptions(form);
  } catch {
    return; // nobody asked for anything yet: the button still works and says what is wrong
  }
  if (!answer.options || modal) return;
  let claimed = false;
  try {
    const result = await startAuthentication({ optionsJSON: answer.options, useBrowserAutofill: true });
    if (modal) return;
    modal = true;
    claimed = true;
    setBusy(form, true);
    showError(form, '');
    finish(form, result);
  } catch (error) {
    // AbortError: the person pressed "Sign in with a passkey", which replaced this request.
    // NotAllowedError: no passkey to offer, or the person dismissed it; nothing they asked for
    // failed, and asking again at once would only fail again.
    if (!claimed && (error?.name === 'AbortError' || error?.name === 'NotAllowedError')) return;
    if (claimed) {
      modal = false;
      setBusy(form, false);
    }
    showError(form, explain(error, 'authenticate'));
  }
}

const reveal = () => {
  for (const element of document.querySelectorAll('[data-passkey-only][hidden]')) element.hidden = false;
};

if (browserSupportsWebAuthn()) {
  reveal();
  // ACCOUNT_SCRIPT swaps parts of a page in from an answer page, where these are hidden again.
  new MutationObserver(reveal).observe(document.body, { childList: true, subtree: true });
}

document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const kind = form.dataset.passkey;
  if (kind !== 'register' && kind !== 'authenticate' && kind !== 'autofill') return;
  event.preventDefault();
  run(form, kind === 'register' ? 'register' : 'authenticate');
});

// Back to a page kept in the back/forward cache after a submit: its buttons work again.
addEventListener('pageshow', (event) => {
  if (!event.persisted) return;
  modal = false;
  for (const form of document.querySelectorAll('form[data-passkey]')) setBusy(form, false);
  armAutofill();
});

armAutofill();
