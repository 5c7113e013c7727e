/** The account pages' one stylesheet, inlined under the CSP nonce. Phone first; no framework. */
export const ACCOUNT_STYLE = `
:root { --fg: #1b1f24; --muted: #59636e; --bg: #f6f8fa; --card: #fff; --line: #d1d9e0; --accent: #0b57d0; --link: var(--accent);
  --danger: #b42318; --ok: #1a7f37; --focus: #0b57d0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --card: #161b22;
  --line: #3d444d; --link: #7cacf8; --danger: #ff8182; --ok: #56d364; --focus: #7cacf8; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5; font-size: 1rem; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--card); padding: .5rem; z-index: 2; }
.top { background: var(--card); border-bottom: 1px solid var(--line); }
.bar, nav ul, main { max-width: 44rem; margin: 0 auto; padding: 0 1rem; }
.bar { display: flex; justify-content: space-between; align-items: center; gap: 1rem; padding-top: .75rem; padding-bottom: .75rem; flex-wrap: wrap; }
.brand { font-weight: 700; font-size: 1.15rem; } .brand img { display: block; height: 2rem; width: auto; max-width: 12rem; }
.foot ul { max-width: 44rem; margin: 0 auto; padding: 1rem; list-style: none; display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; border-top: 1px solid var(--line); }
.who { color: var(--muted); margin-right: .5rem; overflow-wrap: anywhere; }
nav ul { list-style: none; display: flex; gap: 1.25rem; padding-bottom: .5rem; margin-top: 0; margin-bottom: 0; }
nav a { color: var(--fg); text-decoration: none; padding: .25rem 0; border-bottom: 3px solid transparent; }
nav a[aria-current="page"] { border-bottom-color: var(--link); font-weight: 600; }
main { padding-top: 1rem; padding-bottom: 3rem; }
main:focus { outline: none; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
a { color: var(--link); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; margin-bottom: .75rem; }
.card h2, .card h3 { margin: 0 0 .25rem; font-size: 1.05rem; }
.card h2 + form, .card h2 + .field { margin-top: 1rem; }
/* A form card that opens with words (after its hidden fields): no gap above them but the card's own. */
.card > input[type=hidden] + p { margin-top: 0; }
form.step { margin-top: 1.5rem; padding-top: 1.25rem; border-top: 1px solid var(--line); }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .75rem; margin: .5rem 0; color: var(--muted); }
.card dd { margin: 0; overflow-wrap: anywhere; color: var(--fg); }
.badge { display: inline-block; font-size: .8rem; padding: 0 .5rem; border-radius: 1rem; border: 1px solid var(--line); margin-left: .35rem; vertical-align: middle; }
.badge.current { border-color: var(--ok); color: var(--ok); }
.field { margin-bottom: 1rem; } label { display: block; font-weight: 600; margin-bottom: .25rem; }
input[type=text], input[type=email], input[type=password] { width: 100%; max-width: 26rem; font: inherit; padding: .6rem .7rem;
  border: 1px solid var(--line); border-radius: .375rem; background: var(--card); color: var(--fg); }
input[aria-invalid="true"] { border-color: var(--danger); }
.check { display: flex; gap: .5rem; align-items: center; font-weight: 400; margin-bottom: 1rem; }
.hint { color: var(--muted); margin: 0 0 .25rem; font-size: .9rem; }
.error { color: var(--danger); margin: .25rem 0 0; }
button, .button { font: inherit; padding: .55rem 1rem; border-radius: .375rem; border: 1px solid var(--accent); background: var(--accent);
  color: #fff; cursor: pointer; text-decoration: none; display: inline-block; min-height: 2.75rem; }
button.secondary, .button.secondary { background: transparent; color: var(--link); border-color: var(--link); }
button.danger { background: transparent; border-color: var(--danger); color: var(--danger); }
button.link { background: none; border: none; color: var(--link); padding: 0; min-height: 0; text-decoration: underline; }
form.inline { display: inline; } .actions { display: flex; gap: .75rem; flex-wrap: wrap; align-items: center; margin-top: .75rem; }
.notice { padding: .75rem 1rem; border-radius: .375rem; border: 1px solid var(--line); background: var(--card); }
.notice.error { border-color: var(--danger); color: var(--danger); }
.notice.success { border-color: var(--ok); color: var(--ok); }
.codes { font-family: ui-monospace, monospace; font-size: 1.1rem; columns: 2 12rem; padding: 1rem 1rem 1rem 2.5rem; background: var(--card); border: 1px solid var(--line); border-radius: .375rem; }
.codes li { white-space: nowrap; break-inside: avoid; }
.secret { font-family: ui-monospace, monospace; overflow-wrap: anywhere; background: var(--card); padding: .25rem .5rem; border-radius: .25rem; }
.qr { background: #fff; padding: .75rem; width: 14rem; max-width: 100%; border-radius: .375rem; border: 1px solid var(--line); }
.muted { color: var(--muted); }
.events { list-style: none; padding: 0; } .events li { border-bottom: 1px solid var(--line); padding: .6rem 0; }
.events .alert { color: var(--danger); font-weight: 600; }
/* Passkeys: the security page's list, and a passkey form next to the code form it stands in for. */
.passkeys { list-style: none; padding: 0; margin: .75rem 0 0; }
.passkeys li { border-top: 1px solid var(--line); padding: .75rem 0; }
.passkeys h3 { overflow-wrap: anywhere; }
.passkeys p { margin: .25rem 0; }
.passkeys details[open] { flex-basis: 100%; }
summary { cursor: pointer; color: var(--link); padding: .25rem 0; }
details form { margin-top: .5rem; }
form.alt { margin-top: .75rem; }
.error:empty { margin: 0; }
dialog { border: 1px solid var(--line); border-radius: .5rem; background: var(--card); color: var(--fg); max-width: 28rem; }
dialog::backdrop { background: rgb(0 0 0 / .45); }
[hidden] { display: none !important; }
table { width: 100%; border-collapse: collapse; margin: 1rem 0 1.5rem; background: var(--card); border: 1px solid var(--line); border-radius: .5rem; }
caption { text-align: left; font-weight: 600; padding: .5rem 0; }
th, td { text-align: left; padding: .35rem .75rem; border-top: 1px solid var(--line); font-weight: 400; }
thead th { font-weight: 600; color: var(--muted); } td.num { text-align: right; font-variant-numeric: tabular-nums; }
meter { width: 100%; min-width: 4rem; } tbody th { white-space: nowrap; }
/* A phone: a table of four columns fits the width (smaller type, narrower cells). */
@media (max-width: 30rem) { table { font-size: .875rem; } th, td { padding: .35rem .4rem; } }
`;
