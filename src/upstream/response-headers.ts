/**
 * The allowlist of upstream response headers passed back to the agent. Everything else
 * (set-cookie, www-authenticate, server, location, debug echoes...) is dropped; the caller still
 * redacts the values that pass.
 */

export const DEFAULT_RESPONSE_HEADER_ALLOWLIST: readonly string[] = [
  'content-type',
  'content-length',
  'etag',
  'last-modified',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'link',
  'x-request-id',
];

/** Never passed, even when a tool's allowlist names them: they carry credentials or sessions. */
const NEVER_PASSED = new Set([
  'set-cookie',
  'set-cookie2',
  'cookie',
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
]);

const compiled = new WeakMap<readonly string[], ReadonlySet<string>>();

function allowedSet(allowlist: readonly string[]): ReadonlySet<string> {
  let set = compiled.get(allowlist);
  if (set === undefined) {
    set = new Set(allowlist.map((name) => name.toLowerCase()));
    compiled.set(allowlist, set);
  }
  return set;
}

export function filterResponseHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  allowlist: readonly string[] = DEFAULT_RESPONSE_HEADER_ALLOWLIST,
): Record<string, string> {
  const allowed = allowedSet(allowlist);
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || !allowed.has(name) || NEVER_PASSED.has(name)) continue;
    out[name] = typeof value === 'string' ? value : value.join(', ');
  }
  return out;
}
