/**
 * Compiles a tool's request template (URL, query, headers, body) once at config load into a
 * `build(args)` that only substitutes values: the origin comes from config, every path argument
 * is encoded as exactly one segment, header values are checked for CR/LF/NUL.
 */
import type { InjectConfig, ToolConfig } from '../config/schema.js';
import { ConfigError, KeywardError } from '../core/errors.js';
import type { OutboundRequest } from './outbound-request.js';
import { RESERVED_HEADERS } from './reserved-headers.js';
import { PLACEHOLDER } from '../core/placeholders.js';

export interface RequestTemplateOptions {
  /** The inject config of the tool's credential: its header / query param may not be set by the tool. */
  inject?: InjectConfig;
}

export interface CompiledRequestTemplate {
  /** Builds the outbound request for validated arguments. Throws KeywardError('invalid_arguments'). */
  build(args: Record<string, unknown>): OutboundRequest;
  /** scheme://host[:port] of every request this template builds. */
  readonly origin: string;
  /** Argument names consumed by path, query or header placeholders. */
  readonly consumed: ReadonlySet<string>;
}

export const USER_AGENT = 'keyward/0.1';
export const DEFAULT_ACCEPT = 'application/json, */*;q=0.5';

const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

type Part = string | { readonly arg: string };
/** A template string parsed once: exactly one placeholder, or literal text and placeholders. */
type CompiledString =
  | { readonly kind: 'exact'; readonly arg: string }
  | { readonly kind: 'parts'; readonly parts: readonly Part[] };

function compileString(template: string): CompiledString {
  const parts: Part[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    parts.push({ arg: match[1]! });
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  const only = parts[0];
  if (parts.length === 1 && typeof only === 'object') return { kind: 'exact', arg: only.arg };
  return { kind: 'parts', parts };
}

function argsOf(compiled: CompiledString): string[] {
  if (compiled.kind === 'exact') return [compiled.arg];
  return compiled.parts.flatMap((p) => (typeof p === 'string' ? [] : [p.arg]));
}

function hasOwn(args: Record<string, unknown>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(args, name);
}

function present(args: Record<string, unknown>, name: string): unknown {
  return hasOwn(args, name) ? args[name] : undefined;
}

/** The text form of an argument placed into a string (query value, header, interpolated body string). */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? '';
}

function invalid(message: string): KeywardError {
  return new KeywardError('invalid_arguments', message);
}

// -------------------------------------------------------------------------------------------------
// Body templates: compiled to a tree of closures; strings exactly "{x}" take the typed argument.
// -------------------------------------------------------------------------------------------------

const OMIT = Symbol('omit');
type BodyBuilder = (args: Record<string, unknown>) => unknown;

function interpolate(parts: readonly Part[], args: Record<string, unknown>): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else {
      const value = present(args, p.arg);
      if (value !== undefined) out += textOf(value);
    }
  }
  return out;
}

function compileBody(template: unknown, consumedByBody: Set<string>): BodyBuilder {
  if (typeof template === 'string') {
    const compiled = compileString(template);
    for (const arg of argsOf(compiled)) consumedByBody.add(arg);
    if (compiled.kind === 'exact') {
      const arg = compiled.arg;
      return (args) => {
        const value = present(args, arg);
        return value === undefined ? OMIT : structuredClone(value);
      };
    }
    const parts = compiled.parts;
    if (parts.every((p) => typeof p === 'string')) return () => template;
    return (args) => interpolate(parts, args);
  }
  if (Array.isArray(template)) {
    const items = template.map((item) => compileBody(item, consumedByBody));
    return (args) => items.map((item) => item(args)).filter((v) => v !== OMIT);
  }
  if (template !== null && typeof template === 'object') {
    const entries = Object.entries(template).map(
      ([key, value]) => [key, compileBody(value, consumedByBody)] as const,
    );
    return (args) => {
      const out: Record<string, unknown> = {};
      for (const [key, build] of entries) {
        const value = build(args);
        if (value !== OMIT) out[key] = value;
      }
      return out;
    };
  }
  return () => template;
}

// -------------------------------------------------------------------------------------------------

function splitUrl(toolName: string, url: string): { origin: string; path: string; query: string } {
  const where = `tools.${toolName}.request.url`;
  const match = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(url);
  if (!match)
    throw new ConfigError(`${where}: not an absolute URL`, [{ path: where, message: 'not an absolute URL' }]);
  const authority = match[1]!;
  if (/[{}]/.test(authority)) {
    throw new ConfigError(`${where}: placeholders are not allowed in the scheme, host or port`, [
      { path: where, message: 'placeholders are only allowed in the path and query' },
    ]);
  }
  let parsed: URL;
  try {
    parsed = new URL(authority);
  } catch {
    throw new ConfigError(`${where}: invalid origin`, [{ path: where, message: 'invalid origin' }]);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ConfigError(`${where}: only http and https are supported`, [
      { path: where, message: 'http(s) only' },
    ]);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError(`${where}: credentials in the URL are not allowed`, [
      { path: where, message: 'no userinfo in URLs; use a credential' },
    ]);
  }
  const path = match[2] ?? '';
  if (path !== '' && !path.startsWith('/')) {
    throw new ConfigError(`${where}: the path must start with /`, [
      { path: where, message: 'path must start with /' },
    ]);
  }
  if (path.startsWith('//')) {
    throw new ConfigError(`${where}: the path must not start with //`, [
      { path: where, message: 'path starts with //' },
    ]);
  }
  return { origin: parsed.origin, path: path === '' ? '/' : path, query: match[3]?.slice(1) ?? '' };
}

function encodePathArg(name: string, value: unknown): string {
  if (value === undefined || value === null) throw invalid(`missing path argument '${name}'`);
  if (typeof value === 'object') throw invalid(`path argument '${name}' must be a string, number or boolean`);
  const text = textOf(value);
  if (text === '' || text === '.' || text === '..') {
    throw invalid(`path argument '${name}' must not be empty, '.' or '..'`);
  }
  try {
    return encodeURIComponent(text);
  } catch {
    throw invalid(`path argument '${name}' is not valid Unicode`);
  }
}

function checkHeaderValue(value: string, header: string, compiled: CompiledString): void {
  if (INVALID_HEADER_VALUE.test(value)) {
    const names = argsOf(compiled).join("', '");
    throw invalid(
      `argument '${names}' for header '${header}' contains a control character (CR, LF, NUL) or non-Latin-1 text`,
    );
  }
}

export function compileRequestTemplate(
  toolName: string,
  tool: ToolConfig,
  options: RequestTemplateOptions = {},
): CompiledRequestTemplate {
  const request = tool.request;
  const { origin, path, query } = splitUrl(toolName, request.url);
  const consumed = new Set<string>();

  // Path: literal text and encoded single segments.
  const pathParts = compileString(path);
  const pathPieces: readonly Part[] = pathParts.kind === 'exact' ? [{ arg: pathParts.arg }] : pathParts.parts;
  for (const arg of argsOf(pathParts)) consumed.add(arg);

  // Query: literal query of the URL template, then request.query (which wins on the same name).
  const credentialParam = options.inject?.type === 'query' ? options.inject.param : undefined;
  const queryTemplates = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(query)) queryTemplates.set(name, value);
  for (const [name, value] of Object.entries(request.query)) queryTemplates.set(name, value);
  if (credentialParam !== undefined && queryTemplates.has(credentialParam)) {
    const where = `tools.${toolName}.request.query.${credentialParam}`;
    throw new ConfigError(`${where}: the credential's query parameter cannot be set by the tool`, [
      { path: where, message: "the credential's own query parameter" },
    ]);
  }
  const queryEntries = [...queryTemplates].map(
    ([name, template]) => [name, compileString(template)] as const,
  );
  for (const [, compiled] of queryEntries) for (const arg of argsOf(compiled)) consumed.add(arg);

  // Headers: fixed defaults, then the tool's templates (lowercased) minus forbidden names.
  const credentialHeader =
    options.inject?.type === 'header' ? options.inject.header.toLowerCase() : undefined;
  const headerEntries: (readonly [string, CompiledString])[] = [];
  for (const [rawName, template] of Object.entries(request.headers)) {
    const name = rawName.toLowerCase();
    if (RESERVED_HEADERS.has(name) || name === credentialHeader) {
      const where = `tools.${toolName}.request.headers.${rawName}`;
      throw new ConfigError(`${where}: header '${name}' cannot be set by a tool`, [
        { path: where, message: 'credential, cookie, host and framing headers are set by keyward only' },
      ]);
    }
    const compiled = compileString(template);
    if (compiled.kind === 'parts') {
      for (const p of compiled.parts) {
        if (typeof p === 'string' && INVALID_HEADER_VALUE.test(p)) {
          const where = `tools.${toolName}.request.headers.${rawName}`;
          throw new ConfigError(`${where}: invalid header value`, [
            { path: where, message: 'control characters' },
          ]);
        }
      }
    }
    headerEntries.push([name, compiled]);
    for (const arg of argsOf(compiled)) consumed.add(arg);
  }

  // Body.
  const bodyMode = request.body;
  let buildBody: ((args: Record<string, unknown>) => string) | undefined;
  if (bodyMode === 'args') {
    buildBody = (args) => {
      // A null-prototype object: on `{}`, `rest.__proto__ = value` sets the prototype and the key
      // silently vanishes from the body. It is forwarded as sent rather than refused: it is data to
      // the upstream (JSON.stringify writes it like any key, as it already does one level down),
      // and the tool's schema, not this builder, decides which keys an agent may send.
      const rest: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const [key, value] of Object.entries(args))
        if (!consumed.has(key) && value !== undefined) rest[key] = value;
      return JSON.stringify(rest);
    };
  } else if (bodyMode !== undefined) {
    const builder = compileBody(bodyMode, new Set());
    buildBody = (args) => {
      const value = builder(args);
      return JSON.stringify(value === OMIT ? null : value);
    };
  }

  const method = request.method;

  function build(args: Record<string, unknown>): OutboundRequest {
    let pathText = '';
    for (const piece of pathPieces) {
      pathText += typeof piece === 'string' ? piece : encodePathArg(piece.arg, present(args, piece.arg));
    }
    const url = new URL(origin + pathText);

    if (queryEntries.length > 0) {
      const search = new URLSearchParams();
      for (const [name, compiled] of queryEntries) {
        if (compiled.kind === 'exact') {
          const value = present(args, compiled.arg);
          if (value === undefined || value === null) continue;
          if (Array.isArray(value)) {
            for (const item of value)
              if (item !== undefined && item !== null) search.append(name, textOf(item));
          } else search.append(name, textOf(value));
        } else {
          if (compiled.parts.some((p) => typeof p !== 'string' && present(args, p.arg) === undefined))
            continue;
          search.append(name, interpolate(compiled.parts, args));
        }
      }
      const text = search.toString();
      if (text !== '') url.search = text;
    }

    // Defence in depth: the origin is fixed by config whatever the arguments were.
    if (url.origin !== origin) throw invalid('arguments would change the request origin');

    const headers: Record<string, string> = {
      accept: DEFAULT_ACCEPT,
      'accept-encoding': 'identity',
      'user-agent': USER_AGENT,
    };
    let body: string | undefined;
    if (buildBody !== undefined) {
      body = buildBody(args);
      headers['content-type'] = 'application/json';
    }
    for (const [name, compiled] of headerEntries) {
      let value: string;
      if (compiled.kind === 'exact') {
        const arg = present(args, compiled.arg);
        if (arg === undefined || arg === null) continue;
        value = textOf(arg);
      } else {
        if (compiled.parts.some((p) => typeof p !== 'string' && present(args, p.arg) === undefined)) continue;
        value = interpolate(compiled.parts, args);
      }
      checkHeaderValue(value, name, compiled);
      headers[name] = value;
    }
    return { method, url, headers, body };
  }

  return { build, origin, consumed };
}
