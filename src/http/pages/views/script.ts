/**
 * The account pages' progressive JavaScript (no framework): every page works without it.
 * With it, forms marked `data-enhance` post in the background and swap in the parts of the
 * answer page they name (`data-swap`), links marked `data-dialog` open a confirmation
 * `<dialog>` instead of a confirmation page, copy buttons appear, and the device list
 * refreshes itself every minute while the tab is visible, and hidden fields marked
 * `data-mirror` follow the field they name (the sign-in page's passkey form takes the
 * password form's "remember this device" and device name). If an answer lands anywhere but
 * the page we are on (the session ended: the sign-in page), the browser goes there.
 * Inlined under the CSP nonce.
 */
export const ACCOUNT_SCRIPT = `
(() => {
  'use strict';
  const swapFrom = (html, ids) => {
    // Without the answer's own style and script: their nonce is not this page's (a CSP report).
    const bare = html.replace(/<(style|script)\\b[^]*?<\\/\\1>/g, '');
    const next = new DOMParser().parseFromString(bare, 'text/html');
    for (const id of ids) {
      const fresh = next.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) current.replaceChildren(...Array.from(fresh.childNodes));
    }
  };
  const load = async (url, init, ids) => {
    const response = await fetch(url, { credentials: 'same-origin', ...init });
    const landed = new URL(response.url);
    if (landed.pathname !== location.pathname) {
      location.assign(response.url);
      return false;
    }
    swapFrom(await response.text(), ids);
    return true;
  };
  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.enhance) return;
    event.preventDefault();
    const button = event.submitter;
    if (button) button.disabled = true;
    const dialog = form.closest('dialog');
    try {
      const body = new URLSearchParams(new FormData(form));
      const swapped = await load(form.action, { method: 'POST', body }, form.dataset.enhance.split(' '));
      if (dialog) dialog.close();
      if (swapped) document.getElementById('notice')?.focus();
    } catch {
      form.submit();
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  });
  document.addEventListener('click', (event) => {
    const opener = event.target instanceof Element ? event.target.closest('[data-dialog]') : null;
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialog);
      if (dialog instanceof HTMLDialogElement) {
        event.preventDefault();
        dialog.showModal();
      }
      return;
    }
    const closer = event.target instanceof Element ? event.target.closest('[data-close]') : null;
    if (closer) closer.closest('dialog')?.close();
  });
  const mirror = () => {
    for (const copy of document.querySelectorAll('input[data-mirror]')) {
      const source = document.getElementById(copy.dataset.mirror);
      if (!(source instanceof HTMLInputElement)) continue;
      copy.value = source.type === 'checkbox' ? (source.checked ? source.value : '') : source.value;
    }
  };
  if (document.querySelector('input[data-mirror]')) {
    document.addEventListener('input', mirror);
    document.addEventListener('change', mirror);
    mirror();
  }
  for (const button of document.querySelectorAll('[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source ? source.innerText.trim() : '');
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Copy failed: select the codes and copy them';
      }
    });
  }
  const polled = document.querySelector('[data-poll]');
  if (polled) {
    setInterval(() => {
      if (document.visibilityState === 'visible')
        load(location.pathname, {}, [polled.id]).catch(() => {});
    }, Number(polled.dataset.poll) * 1000);
  }
})();
`;
