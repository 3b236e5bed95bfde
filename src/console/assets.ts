/**
 * The console's only stylesheet and script, served from /console/assets/ (the CSP allows scripts
 * and styles from the console's own origin only). The pages work without the script: it adds a
 * confirmation before deny/revoke and refreshes the pending list while the operator is not typing.
 */

export const CONSOLE_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #57606a; --line: #d0d7de;
  --accent: #0b5cad; --ok: #1a7f37; --bad: #b42318; --card: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3;
  --line: #30363d; --accent: #58a6ff; --ok: #3fb950; --bad: #f85149; --card: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
.top { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .75rem 1rem;
  border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; color: var(--fg); text-decoration: none; }
nav { display: flex; gap: 1rem; flex-wrap: wrap; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
.signout { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
a { color: var(--accent); }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin: .25rem 0; }
.muted, .hint, .count { color: var(--muted); }
.cards { list-style: none; padding: 0; display: grid; gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dt { font-weight: 600; } dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.untrusted { border-left: 4px solid #d4a72c; padding: .25rem .5rem; background: rgba(212,167,44,.08);
  white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, monospace; }
pre.untrusted { max-height: 24rem; overflow: auto; }
blockquote.untrusted { margin: 0; }
.decide { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); margin-top: 1rem; }
form.card { display: flex; flex-direction: column; gap: .5rem; }
fieldset { border: 1px solid var(--line); border-radius: 6px; }
fieldset label { display: block; }
input, select, textarea, button { font: inherit; padding: .4rem .6rem; border-radius: 6px;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
button, .button { cursor: pointer; display: inline-block; text-decoration: none; }
.button, button.primary { background: var(--accent); color: #fff; border-color: var(--accent); padding: .4rem .8rem; border-radius: 6px; }
button.danger { border-color: var(--bad); color: var(--bad); }
.flash { padding: .5rem .75rem; border-radius: 6px; border: 1px solid var(--line); }
.flash.ok, .verify.ok { border-color: var(--ok); color: var(--ok); }
.flash.error, .verify.failed { border-color: var(--bad); color: var(--bad); }
.status-approved { color: var(--ok); } .status-denied, .status-expired { color: var(--bad); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); padding: .25rem 0; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: .35rem .5rem; vertical-align: top; }
td code.untrusted { display: block; max-width: 28rem; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
.filters label { display: flex; flex-direction: column; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (max-width: 40rem) { dl { grid-template-columns: 1fr; } .signout { margin-left: 0; } }
`;

export const CONSOLE_JS = `'use strict';
document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) event.preventDefault();
});
// The pending list refreshes itself while nobody is typing, so a new request shows up.
if (document.querySelector('[data-live="approvals"]')) {
  setInterval(function () {
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return;
    if (document.visibilityState === 'visible') window.location.reload();
  }, 10000);
}
`;
