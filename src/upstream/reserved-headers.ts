/**
 * Headers keyward sets itself, stated once (issue 13: the OpenAPI importer and the request
 * template had drifted apart; the runtime list lacked `forwarded` and `x-forwarded-*`).
 */

/** Never set by a tool's config template, nor by an argument: credentials, routing, framing, encoding. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
  // Bodies must arrive uncompressed so the redactor sees them (see http-client.ts).
  'accept-encoding',
  // Who the request comes from is not the caller's to claim.
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  // W3C trace context: set by keyward (tracing on) from the upstream request's span.
  'traceparent',
  'tracestate',
]);

/**
 * Also never an argument (an imported OpenAPI header parameter): the body's media type and the
 * accepted ones are keyward's (the operator may still fix them in a tool's config).
 */
export const ARGUMENT_RESERVED_HEADERS: ReadonlySet<string> = new Set([
  ...RESERVED_HEADERS,
  'content-type',
  'accept',
]);
