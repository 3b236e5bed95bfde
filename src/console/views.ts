/**
 * The console's pages: Handlebars templates, compiled once. Handlebars escapes every `{{value}}`
 * for HTML and quoted attributes; no template uses the raw `{{{…}}}` form, so text an agent or an
 * upstream wrote (arguments, justifications, audit details) is inert wherever it lands. The view
 * models are built in console-router.ts from plain strings, already passed through
 * escapeUntrusted (control and bidi characters shown as visible escapes). URLs in `href`/`action`
 * are built from ids with encodeURIComponent. No inline script or style: the CSP forbids both.
 */
import Handlebars from 'handlebars';

const hbs = Handlebars.create();

/**
 * Arguments as JSON parts (core/untrusted-text.ts jsonParts): every string token in its own <bdi>, so
 * right-to-left text in a key or a value cannot reorder the line around it (a Hebrew key would
 * otherwise be drawn right of its value, and the operator would read them swapped). One line, no
 * whitespace: it renders inside <pre>.
 */
hbs.registerPartial('json', '{{#each parts}}{{#if s}}<bdi>{{t}}</bdi>{{else}}{{t}}{{/if}}{{/each}}');

const LAYOUT = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · keyward console</title>
<link rel="stylesheet" href="{{base}}/assets/console.css">
<script src="{{base}}/assets/console.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="{{base}}/approvals">keyward console</a>
  {{#if operator}}
  <nav aria-label="Sections">
    <a href="{{base}}/approvals"{{#if nav.approvals}} aria-current="page"{{/if}}>Approvals</a>
    <a href="{{base}}/grants"{{#if nav.grants}} aria-current="page"{{/if}}>Grants</a>
    <a href="{{base}}/audit"{{#if nav.audit}} aria-current="page"{{/if}}>Audit trail</a>
    <a href="{{base}}/connections"{{#if nav.connections}} aria-current="page"{{/if}}>Connections</a>
  </nav>
  <form method="post" action="{{base}}/logout" class="signout">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <span class="who">Signed in as <strong>{{operator}}</strong></span>
    <button type="submit">Sign out</button>
  </form>
  {{/if}}
</header>
<main id="main">
{{#if flash}}<p class="flash {{flashKind}}" role="status">{{flash}}</p>{{/if}}
{{> body}}
</main>
</body>
</html>
`;

const PAGES = {
  login: `<h1>Sign in</h1>
<p>Use your <strong>operator</strong> token (<code>keyward tokens create --operator NAME</code>). Agent tokens do not open the console.</p>
<form method="post" action="{{base}}/login" class="card">
  <input type="hidden" name="next" value="{{next}}">
  <label for="token">Operator token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`,

  approvals: `<h1>Pending approvals <span class="count">({{approvals.length}})</span></h1>
<p class="hint">Agents wait for these answers. Arguments and justifications are written by the agent: read them as claims, not facts.</p>
{{#if approvals.length}}
<ul class="cards" data-live="approvals">
{{#each approvals}}
  <li class="card">
    <h2><a href="{{href}}">{{what}}</a></h2>
    <dl>
      <dt>Agent</dt><dd>{{agent}} <span class="muted">(tenant {{tenant}})</span></dd>
      {{#if user}}<dt>For user</dt><dd>{{user}}</dd>{{/if}}
      <dt>Asked</dt><dd><time datetime="{{requestedAt}}">{{requestedAt}}</time></dd>
      <dt>Arguments</dt><dd><code class="untrusted" dir="ltr">{{> json parts=argsPreview}}</code></dd>
      {{#if justification}}<dt>Justification</dt><dd><q class="untrusted">{{justification}}</q></dd>{{/if}}
      <dt>Request</dt><dd><code>{{id}}</code> · rule {{rules}}</dd>
    </dl>
    <a class="button" href="{{href}}">Review and decide</a>
  </li>
{{/each}}
</ul>
{{else}}
<p class="empty" data-live="approvals">Nothing is waiting for an answer.</p>
{{/if}}`,

  approval: `<p><a href="{{base}}/approvals">← All pending approvals</a></p>
<h1>Request <code>{{a.id}}</code></h1>
<p class="status status-{{a.status}}">Status: <strong>{{a.status}}</strong>{{#if a.answeredBy}} by {{a.answeredBy}} at <time datetime="{{a.answeredAt}}">{{a.answeredAt}}</time>{{/if}}{{#if a.grantHref}} · <a href="{{a.grantHref}}">grant {{a.grantId}}</a>{{/if}}</p>
<dl class="facts">
  <dt>Agent</dt><dd>{{a.agent}}</dd>
  <dt>Tenant</dt><dd>{{a.tenant}}</dd>
  {{#if a.user}}<dt>For user</dt><dd id="user">{{a.user}}</dd>{{/if}}
  <dt>Tool</dt><dd>{{a.tool}}</dd>
  <dt>Permission</dt><dd><code>{{a.permission}}</code></dd>
  <dt>Rule</dt><dd>{{a.rules}}</dd>
  <dt>Asked</dt><dd><time datetime="{{a.requestedAt}}">{{a.requestedAt}}</time></dd>
  <dt>Open until</dt><dd><time datetime="{{a.expiresAt}}">{{a.expiresAt}}</time></dd>
  <dt>Grant terms</dt><dd>{{a.terms}}</dd>
</dl>
<h2>{{a.argsHeading}}</h2>
<p class="hint" dir="ltr">Sent by the agent, unverified. {{> json parts=a.scopeHint}}</p>
<pre class="untrusted" id="arguments" dir="ltr">{{> json parts=a.args}}</pre>
{{#if a.justification}}
<h2>Justification</h2>
<p class="hint">Written by the agent, unverified.</p>
<blockquote class="untrusted" id="justification">{{a.justification}}</blockquote>
{{/if}}
{{#if a.pending}}
<div class="decide">
<form method="post" action="{{a.href}}/approve" class="card approve">
  <h2>Approve</h2>
  <input type="hidden" name="csrf" value="{{csrf}}">
  <fieldset>
    <legend>The grant covers</legend>
    {{#if a.pinned}}
    <label><input type="radio" name="scope" value="these" checked> only these arguments</label>
    <label><input type="radio" name="scope" value="any"> any arguments of <code>{{a.permission}}</code></label>
    {{else}}
    <p dir="ltr" id="scope">{{> json parts=a.scope}}</p><input type="hidden" name="scope" value="these">
    {{/if}}
  </fieldset>
  <label for="ttl">For</label>
  <select id="ttl" name="ttlSeconds">
    {{#each a.ttlChoices}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}
  </select>
  <button type="submit" class="primary">Approve</button>
</form>
<form method="post" action="{{a.href}}/deny" class="card deny" data-confirm="Deny this request?">
  <h2>Deny</h2>
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="reason">Reason (recorded in the audit trail)</label>
  <textarea id="reason" name="reason" rows="2" maxlength="500"></textarea>
  <button type="submit" class="danger">Deny</button>
</form>
</div>
{{/if}}`,

  grants: `<h1>Live grants <span class="count">({{grants.length}})</span></h1>
{{#if grants.length}}
<div class="table-wrap">
<table>
  <caption>Grants in force now; revoking one denies the very next call that relies on it.</caption>
  <thead><tr><th scope="col">Grant</th><th scope="col">Agent</th><th scope="col">Permission</th><th scope="col">Covers</th><th scope="col">Expires</th><th scope="col">Calls left</th><th scope="col">Given by</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
  <tbody>
  {{#each grants}}
  <tr id="grant-{{id}}">
    <td><code>{{id}}</code></td><td>{{agent}} <span class="muted">({{tenant}})</span></td><td><code>{{permission}}</code></td>
    <td dir="ltr">{{> json parts=scope}}</td><td><time datetime="{{expiresAt}}">{{expiresAt}}</time></td><td>{{callsLeft}}</td><td>{{createdBy}}</td>
    <td><form method="post" action="{{href}}/revoke" data-confirm="Revoke this grant now?">
      <input type="hidden" name="csrf" value="{{../csrf}}">
      <button type="submit" class="danger" aria-label="Revoke grant {{id}}">Revoke</button>
    </form></td>
  </tr>
  {{/each}}
  </tbody>
</table>
</div>
{{else}}
<p class="empty">No grant is in force.</p>
{{/if}}`,

  audit: `<h1>Audit trail</h1>
<form method="get" action="{{base}}/audit" class="filters">
  <label>Agent <input name="agent" value="{{filters.agent}}"></label>
  <label>Tenant <input name="tenant" value="{{filters.tenant}}"></label>
  <label>Tool <input name="tool" value="{{filters.tool}}"></label>
  <label>Request id <input name="requestId" value="{{filters.requestId}}"></label>
  <button type="submit">Filter</button>
  <button type="submit" name="verify" value="1">Filter and verify the chain</button>
</form>
{{#if verify}}
<p class="verify {{#if verify.ok}}ok{{else}}failed{{/if}}" role="status" id="verify">{{verify.summary}}</p>
{{#if verify.problems.length}}<ul class="problems">{{#each verify.problems}}<li>{{this}}</li>{{/each}}</ul>{{/if}}
{{/if}}
<div class="table-wrap">
<table>
  <caption>The newest {{records.length}} records (oldest first){{#if filtered}}, filtered{{/if}}.</caption>
  <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Agent</th><th scope="col">Tool</th><th scope="col">Decision / outcome</th><th scope="col">Request</th><th scope="col">Details</th></tr></thead>
  <tbody>
  {{#each records}}
  <tr><td><time datetime="{{time}}">{{time}}</time></td><td>{{type}}</td><td>{{who}}</td><td>{{tool}}</td><td>{{result}}</td><td><code>{{requestId}}</code></td><td><code class="untrusted" dir="ltr">{{> json parts=details}}</code></td></tr>
  {{/each}}
  </tbody>
</table>
</div>`,

  connections: `<h1>User connections <span class="count">({{connections.length}})</span></h1>
<p class="hint">People's accounts at OAuth providers, connected by themselves; agents act for them with these. No token is shown here. Revoking removes the stored tokens and revokes them at the provider where it offers RFC 7009; the user's next call asks them to connect again.</p>
{{#if configured}}
<form method="get" action="{{base}}/connections" class="filters">
  <label>User <input name="user" value="{{filters.user}}"></label>
  <label>Provider <input name="provider" value="{{filters.provider}}"></label>
  <button type="submit">Filter</button>
</form>
{{#if connections.length}}
<div class="table-wrap">
<table>
  <caption>Stored connections{{#if filtered}}, filtered{{/if}}.</caption>
  <thead><tr><th scope="col">User</th><th scope="col">Provider</th><th scope="col">Tenant</th><th scope="col">Credential</th><th scope="col">Version</th><th scope="col">Updated</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
  <tbody>
  {{#each connections}}
  <tr>
    <td>{{user}}</td><td>{{provider}}</td><td>{{tenant}}</td><td><code>{{credential}}</code></td><td>{{version}}</td><td><time datetime="{{updatedAt}}">{{updatedAt}}</time></td>
    <td><form method="post" action="{{../base}}/connections/revoke" data-confirm="Revoke this connection now?">
      <input type="hidden" name="csrf" value="{{../csrf}}">
      <input type="hidden" name="credential" value="{{credentialId}}">
      <input type="hidden" name="ref" value="{{ref}}">
      <button type="submit" class="danger" aria-label="Revoke {{provider}} connection of {{user}}">Revoke</button>
    </form></td>
  </tr>
  {{/each}}
  </tbody>
</table>
</div>
{{else}}
<p class="empty">No stored connection{{#if filtered}} matches{{/if}}.</p>
{{/if}}
{{else}}
<p class="empty">No user connection is configured (credentials with <code>connection</code>: docs/user-oauth.md).</p>
{{/if}}`,

  error: `<h1>{{heading}}</h1>
<p>{{message}}</p>
<p><a href="{{base}}/approvals">Back to the console</a></p>`,
} as const;

export type ConsolePage = keyof typeof PAGES;

const layout = hbs.compile(LAYOUT, { strict: false, noEscape: false });
const bodies = Object.fromEntries(
  Object.entries(PAGES).map(([name, source]) => [name, hbs.compile(source, { noEscape: false })]),
) as Record<ConsolePage, HandlebarsTemplateDelegate>;

/** The whole HTML page; `model` holds only strings, numbers, booleans and lists of them. */
export function renderPage(page: ConsolePage, model: Record<string, unknown>): string {
  const body = bodies[page];
  return layout(model, { partials: { body } });
}
