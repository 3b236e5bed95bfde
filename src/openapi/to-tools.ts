/**
 * Turns the operations of a dereferenced OpenAPI/Swagger document into keyward tool entries
 * (the shape of `toolSchema`): sanitized unique names, cleaned descriptions, an input schema from
 * path/query/header parameters and the JSON body, a request template on a fixed origin, a permission
 * from tag and method, MCP annotations from the method, and a hash of the generated definition.
 * What cannot be expressed is reported with the operation it comes from, never silently dropped.
 */
import type { z } from 'zod';
import { toolSchema, type ToolConfig } from '../config/schema.js';
import type { OpenApiDocument } from './load-spec.js';
import { hashParts } from './definition-hash.js';
import { swagger2ParameterSchema, toJsonSchema, type JsonSchema } from './json-schema.js';
import {
  cleanDescription,
  DEFAULT_DESCRIPTION_MAX_LENGTH,
  permissionSegment,
  PROPERTY_DESCRIPTION_MAX_LENGTH,
  sanitizeName,
  uniqueName,
} from './sanitize.js';
import {
  mapSecurityScheme,
  securityRequirements,
  securitySchemes,
  type SchemeMapping,
  type SecurityRequirement,
} from './security.js';
import { ARGUMENT_RESERVED_HEADERS } from '../upstream/reserved-headers.js';
import { PLACEHOLDER, PLACEHOLDER_NAME } from '../core/placeholders.js';

/** A tool entry as written into tools.config.json (defaults not yet applied). */
export type ToolDefinition = z.input<typeof toolSchema>;

export interface ImportOptions {
  /** Recorded in `generated.source` (the spec path as the config refers to it, or its URL). */
  readonly source: string;
  /** Credential name put on every operation that is not explicitly public (`security: []`). */
  readonly credential?: string | undefined;
  /** Keep only operations with one of these tags. */
  readonly tags?: readonly string[] | undefined;
  /** Keep only these operations (operationId or generated tool name). */
  readonly operations?: readonly string[] | undefined;
  /** First permission segment (default: the API title, e.g. `swagger-petstore`). */
  readonly permissionPrefix?: string | undefined;
  /**
   * Permission template over `{prefix}`, `{tag}` and `{access}` (`read` for GET/HEAD, `write`
   * otherwise). Default `{prefix}:{tag}:{access}`, or `{prefix}:{access}` for untagged operations.
   */
  readonly permissionTemplate?: string;
  /** Replaces the spec's server URL (origin and base path). */
  readonly baseUrl?: string | undefined;
  /** Where the spec was fetched from, to resolve relative server URLs (optional). */
  readonly specUrl?: string | undefined;
  readonly descriptionMaxLength?: number;
}

export interface ImportIssue {
  /** `GET /pets/{id} (getPet)`, or `(document)` for document-wide problems. */
  readonly operation: string;
  readonly message: string;
  /** True when the operation was skipped because of it. */
  readonly skipped: boolean;
}

export interface ImportResult {
  /** Parsed entries (defaults applied), keyed by tool name, in document order. */
  readonly tools: Record<string, ToolConfig>;
  /** The same entries as they would be written into the config file. */
  readonly definitions: Record<string, ToolDefinition>;
  readonly issues: ImportIssue[];
  /** Operations in the document (before filtering). */
  readonly operationCount: number;
  /** The security scheme chosen for `credential`, when the document has a supported one. */
  readonly security?: SchemeMapping;
  /** Origins the generated tools call (for the credential's `origins`). */
  readonly origins: string[];
}

type Obj = Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const SUPPORTED_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly op: Obj;
  readonly item: Obj;
  readonly label: string;
  readonly operationId: string | undefined;
}

function listOperations(document: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  const paths = isObject(document.paths) ? document.paths : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const operationId = str(op.operationId)?.trim() || undefined;
      const label = `${method.toUpperCase()} ${path}${operationId ? ` (${operationId})` : ''}`;
      out.push({ method: method.toUpperCase(), path, op, item, label, operationId });
    }
  }
  return out;
}

function substituteServerVariables(url: string, variables: unknown): string {
  const vars = isObject(variables) ? variables : {};
  return url.replace(/\{([^}]+)\}/g, (whole, name: string) => {
    const variable = vars[name];
    const value = isObject(variable) ? variable.default : undefined;
    return typeof value === 'string' || typeof value === 'number' ? String(value) : whole;
  });
}

/** The absolute base URL (origin + base path, no trailing slash) of one operation, or why there is none. */
function baseUrlFor(
  document: OpenApiDocument,
  o: Operation,
  options: ImportOptions,
): string | { error: string } {
  let raw: string | undefined;
  if (options.baseUrl) raw = options.baseUrl;
  else if (typeof document.swagger === 'string') {
    const host = str(document.host);
    if (host) {
      const schemes = Array.isArray(document.schemes) ? document.schemes : [];
      const scheme = schemes.includes('https') ? 'https' : schemes.includes('http') ? 'http' : 'https';
      raw = `${scheme}://${host}${str(document.basePath) ?? ''}`;
    } else raw = str(document.basePath);
  } else {
    const server = [o.op.servers, o.item.servers, document.servers]
      .map((s) => (Array.isArray(s) && isObject(s[0]) ? s[0] : undefined))
      .find((s) => s !== undefined);
    if (server && typeof server.url === 'string')
      raw = substituteServerVariables(server.url, server.variables);
  }
  if (raw === undefined || raw === '') {
    return { error: 'the document names no server URL; pass --base-url' };
  }
  let url: URL;
  try {
    url = options.specUrl ? new URL(raw, options.specUrl) : new URL(raw);
  } catch {
    return { error: `server URL "${raw}" is not absolute; pass --base-url` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { error: `server URL "${raw}" is not http(s); pass --base-url` };
  }
  if (/[{}]/.test(decodeURIComponent(url.href))) {
    return { error: `server URL "${raw}" has a variable without a default; pass --base-url` };
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Percent-encodes the literal parts of a path, keeping `{placeholders}` (already renamed). */
function encodePath(path: string): string {
  return path
    .split(new RegExp(`(\\{${PLACEHOLDER_NAME}\\})`))
    .map((part, i) => (i % 2 === 1 ? part : encodeURI(part).replace(/%25([0-9A-Fa-f]{2})/g, '%$1')))
    .join('');
}

function annotationsFor(method: string): NonNullable<ToolConfig['annotations']> {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true };
    case 'PUT':
      return { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true };
    case 'DELETE':
      return { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true };
    case 'PATCH':
      return { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };
    default:
      return { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };
  }
}

function defaultPrefix(document: OpenApiDocument): string {
  const info = isObject(document.info) ? document.info : {};
  return permissionSegment(str(info.title) ?? '', 'api');
}

function cleanPrefix(prefix: string): string {
  const cleaned = prefix.replace(/[^A-Za-z0-9_.:-]+/g, '-').replace(/^[:]+|[:]+$/g, '');
  return cleaned || 'api';
}

function permissionFor(
  o: Operation,
  prefix: string,
  options: ImportOptions,
): { permission: string; suffix: string } {
  const access = o.method === 'GET' || o.method === 'HEAD' ? 'read' : 'write';
  const firstTag = Array.isArray(o.op.tags) ? str(o.op.tags[0]) : undefined;
  const tag = firstTag ? permissionSegment(firstTag) : undefined;
  const template = options.permissionTemplate ?? (tag ? '{prefix}:{tag}:{access}' : '{prefix}:{access}');
  const permission = template
    .replace(/\{prefix\}/g, prefix)
    .replace(/\{tag\}/g, tag ?? 'default')
    .replace(/\{access\}/g, access)
    .replace(/[^A-Za-z0-9_.:-]+/g, '-');
  const suffix = template
    .replace(/\{prefix\}:?/g, '')
    .replace(/\{tag\}/g, tag ?? 'default')
    .replace(/\{access\}/g, access);
  return { permission, suffix };
}

interface Param {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly description: string | undefined;
  readonly schema: JsonSchema;
  readonly raw: Obj;
}

function collectParameters(o: Operation): Obj[] {
  const merged = new Map<string, Obj>();
  for (const list of [o.item.parameters, o.op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const p of list) {
      if (!isObject(p) || typeof p.name !== 'string' || typeof p.in !== 'string') continue;
      merged.set(`${p.in}:${p.name}`, p);
    }
  }
  return [...merged.values()];
}

function jsonMediaSchema(content: unknown): { schema: unknown; mediaType: string } | { others: string[] } {
  if (!isObject(content)) return { others: [] };
  const types = Object.keys(content);
  const json =
    types.find((t) => t.toLowerCase() === 'application/json') ?? types.find((t) => JSON_MEDIA.test(t));
  if (json !== undefined) {
    const media = content[json];
    return { schema: isObject(media) ? media.schema : undefined, mediaType: json.split(';')[0]!.trim() };
  }
  return { others: types };
}

interface Body {
  readonly schema: JsonSchema;
  readonly required: boolean;
  readonly mediaType: string;
  readonly description: string | undefined;
}

/** Compiles one operation; returns the tool definition or the reason it was skipped. */
function compileOperation(
  document: OpenApiDocument,
  o: Operation,
  prefix: string,
  options: ImportOptions,
  credentialParams: { header?: string; query?: string },
  report: (message: string, skipped?: boolean) => void,
): { definition: ToolDefinition; origin: string } | undefined {
  if (!SUPPORTED_METHODS.has(o.method)) {
    report(`method ${o.method} is not supported`, true);
    return undefined;
  }
  const base = baseUrlFor(document, o, options);
  if (typeof base !== 'string') {
    report(base.error, true);
    return undefined;
  }
  const swagger2 = typeof document.swagger === 'string';
  const params: Param[] = [];
  let body: Body | undefined;

  for (const p of collectParameters(o)) {
    const where = p.in as string;
    const pname = p.name as string;
    const required = p.required === true || where === 'path';
    const description = str(p.description);
    if (where === 'cookie') {
      report(`cookie parameter "${pname}" is not supported`, required);
      if (required) return undefined;
      continue;
    }
    if (where === 'formData') {
      report(`form parameter "${pname}" is not supported (form bodies are not supported)`, required);
      if (required) return undefined;
      continue;
    }
    if (where === 'body') {
      const consumes = (Array.isArray(o.op.consumes) ? o.op.consumes : document.consumes) as unknown;
      const types = Array.isArray(consumes) ? consumes.filter((t): t is string => typeof t === 'string') : [];
      const json = types.length === 0 ? 'application/json' : types.find((t) => JSON_MEDIA.test(t));
      if (!json) {
        report(`body media type(s) ${types.join(', ')} are not supported (only JSON)`, required);
        if (required) return undefined;
        continue;
      }
      body = { schema: toJsonSchema(p.schema), required, mediaType: json.split(';')[0]!.trim(), description };
      continue;
    }
    if (where !== 'path' && where !== 'query' && where !== 'header') {
      report(`parameter "${pname}" in "${where}" is not supported`, required);
      if (required) return undefined;
      continue;
    }
    if (where === 'header') {
      if (!HEADER_NAME.test(pname)) {
        report(`header parameter "${pname}" is not a valid header name`, required);
        if (required) return undefined;
        continue;
      }
      if (
        ARGUMENT_RESERVED_HEADERS.has(pname.toLowerCase()) ||
        pname.toLowerCase() === credentialParams.header
      ) {
        report(`header parameter "${pname}" is reserved and is not exposed as an argument`, false);
        continue;
      }
    }
    if (where === 'query' && pname === credentialParams.query) {
      report(`query parameter "${pname}" carries the credential and is not exposed as an argument`, false);
      continue;
    }
    let schema: JsonSchema;
    if (swagger2) {
      schema = swagger2ParameterSchema(p);
      if (
        p.type === 'array' &&
        str(p.collectionFormat) &&
        !['csv', 'multi'].includes(p.collectionFormat as string)
      ) {
        report(
          `parameter "${pname}" uses collectionFormat ${String(p.collectionFormat)}, which may be encoded differently`,
        );
      }
    } else if (isObject(p.schema)) {
      schema = toJsonSchema(p.schema);
    } else if (isObject(p.content)) {
      const media = jsonMediaSchema(p.content);
      schema = 'schema' in media ? toJsonSchema(media.schema) : {};
      report(`parameter "${pname}" uses a content map; its value is passed as given, not serialized`);
    } else schema = { type: 'string' };
    const style = str(p.style);
    if (style && !['simple', 'form'].includes(style)) {
      report(
        `parameter "${pname}" uses style ${style}, which is not supported; values are sent as plain strings`,
      );
    } else if (
      where === 'query' &&
      (schema.type === 'object' || schema.type === 'array') &&
      p.explode === false
    ) {
      report(`parameter "${pname}" uses explode: false, which may be encoded differently`);
    }
    if (where === 'query' && schema.type === 'object') {
      report(`object query parameter "${pname}" is not supported; it is sent as a JSON string`);
    }
    params.push({ name: pname, in: where, required, description, schema, raw: p });
  }

  if (!swagger2 && o.op.requestBody !== undefined) {
    const rb = isObject(o.op.requestBody) ? o.op.requestBody : {};
    const required = rb.required === true;
    const media = jsonMediaSchema(rb.content);
    if ('others' in media) {
      const types = media.others.length > 0 ? media.others.join(', ') : 'none';
      report(`request body media type(s) ${types} are not supported (only JSON)`, required);
      if (required) return undefined;
    } else {
      body = {
        schema: toJsonSchema(media.schema),
        required,
        mediaType: media.mediaType,
        description: str(rb.description),
      };
    }
  }

  // Argument names: path, then query, then header; a collision is resolved by prefixing the location.
  const taken = new Set<string>();
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const query: Record<string, string> = {};
  const headers: Record<string, string> = {};
  let path = o.path;
  const order = { path: 0, query: 1, header: 2 } as Record<string, number>;
  const sorted = [...params].sort((a, b) => (order[a.in] ?? 9) - (order[b.in] ?? 9));
  for (const p of sorted) {
    const sanitized = sanitizeName(p.name, 'param', 64);
    const baseName = /^[A-Za-z_]/.test(sanitized) ? sanitized : `p_${sanitized}`.slice(0, 64);
    const arg = taken.has(baseName)
      ? uniqueName(`${p.in}_${baseName}`, taken, 64)
      : uniqueName(baseName, taken, 64);
    const schema: JsonSchema = { ...p.schema };
    const description = cleanDescription(p.description, PROPERTY_DESCRIPTION_MAX_LENGTH);
    if (description) schema.description = description;
    properties[arg] = schema;
    if (p.required) required.push(arg);
    if (p.in === 'path') {
      const placeholder = `{${p.name}}`;
      if (!path.includes(placeholder)) {
        report(`path parameter "${p.name}" does not appear in the path`);
        delete properties[arg];
        required.splice(required.indexOf(arg), 1);
        continue;
      }
      path = path.split(placeholder).join(`{${arg}}`);
    } else if (p.in === 'query') query[p.name] = `{${arg}}`;
    else headers[p.name.toLowerCase()] = `{${arg}}`;
  }
  const leftover = /\{([^}]*)\}/.exec(
    path.replace(PLACEHOLDER, (m, name: string) =>
      Object.prototype.hasOwnProperty.call(properties, name) ? '' : m,
    ),
  );
  if (leftover) {
    report(`path placeholder ${leftover[0]} has no path parameter`, true);
    return undefined;
  }

  let bodyTemplate: unknown;
  if (body) {
    if (body.mediaType.toLowerCase() !== 'application/json') headers['content-type'] = body.mediaType;
    const s = body.schema;
    const bodyProps = isObject(s.properties) ? (s.properties as Record<string, JsonSchema>) : undefined;
    const flat =
      bodyProps !== undefined &&
      (s.type === 'object' || s.type === undefined) &&
      (s.additionalProperties === undefined || s.additionalProperties === false) &&
      s.oneOf === undefined &&
      s.anyOf === undefined &&
      s.allOf === undefined &&
      s.not === undefined &&
      Object.keys(bodyProps).every((k) => !taken.has(k));
    if (flat) {
      for (const [k, v] of Object.entries(bodyProps)) properties[k] = v;
      if (body.required && Array.isArray(s.required)) required.push(...(s.required as string[]));
      bodyTemplate = 'args';
    } else {
      const arg = uniqueName('body', taken, 64);
      const schema: JsonSchema = { ...s };
      const description = cleanDescription(body.description, PROPERTY_DESCRIPTION_MAX_LENGTH);
      if (description && schema.description === undefined) schema.description = description;
      properties[arg] = schema;
      if (body.required) required.push(arg);
      bodyTemplate = `{${arg}}`;
    }
  }

  const input: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (required.length > 0) input.required = [...new Set(required)];

  const summary = cleanDescription(o.op.summary, 300);
  const longText = cleanDescription(
    o.op.description,
    options.descriptionMaxLength ?? DEFAULT_DESCRIPTION_MAX_LENGTH,
  );
  let description = [summary, longText !== summary ? longText : ''].filter(Boolean).join('\n\n');
  if (o.op.deprecated === true) description = `(deprecated) ${description}`;
  description = cleanDescription(
    description || `${o.method} ${o.path}`,
    options.descriptionMaxLength ?? DEFAULT_DESCRIPTION_MAX_LENGTH,
  );

  const { permission, suffix } = permissionFor(o, prefix, options);
  const annotations = annotationsFor(o.method);
  const pathTemplate = encodePath(path);
  const url = `${base}${pathTemplate.startsWith('/') ? '' : '/'}${pathTemplate}`;
  try {
    new URL(url);
  } catch {
    report(`the request URL ${url} is not valid`, true);
    return undefined;
  }
  const sha256 = hashParts({
    method: o.method,
    pathTemplate: pathTemplateOfBase(base, url),
    query,
    headers,
    body: bodyTemplate,
    input,
    description,
    annotations,
    permissionSuffix: suffix,
  });
  const definition: ToolDefinition = {
    description,
    permission,
    request: { method: o.method as ToolConfig['request']['method'], url, query, headers },
    input: input as ToolDefinition['input'],
    annotations,
    generated: { source: options.source, sha256 },
  };
  if (bodyTemplate !== undefined) definition.request.body = bodyTemplate;
  if (Object.keys(query).length === 0) delete definition.request.query;
  if (Object.keys(headers).length === 0) delete definition.request.headers;
  return { definition, origin: new URL(url).origin };
}

/** The operation-relative path (without the server's base path), so a base-URL change is not drift. */
function pathTemplateOfBase(base: string, url: string): string {
  return url.slice(base.length);
}

/** Picks the scheme the credential stands for: the supported one most operations require. */
function chooseScheme(
  document: OpenApiDocument,
  ops: readonly Operation[],
  baseUrl: string | undefined,
): { mapping?: SchemeMapping; perOp: Map<Operation, SecurityRequirement[] | undefined> } {
  const schemes = securitySchemes(document);
  const rootReqs = securityRequirements(document.security);
  const perOp = new Map<Operation, SecurityRequirement[] | undefined>();
  const counts = new Map<string, { count: number; scopes: Set<string> }>();
  for (const o of ops) {
    const reqs = securityRequirements(o.op.security) ?? rootReqs;
    perOp.set(o, reqs);
    for (const req of reqs ?? []) {
      const names = Object.keys(req);
      if (names.length !== 1) continue;
      const schemeName = names[0]!;
      const entry = counts.get(schemeName) ?? { count: 0, scopes: new Set<string>() };
      entry.count++;
      for (const s of req[schemeName] ?? []) entry.scopes.add(s);
      counts.set(schemeName, entry);
    }
  }
  const ranked = [...counts.entries()].sort((a, b) => b[1].count - a[1].count);
  let fallback: SchemeMapping | undefined;
  for (const [schemeName, { scopes }] of ranked) {
    const scheme = schemes[schemeName];
    if (!scheme) continue;
    const mapping = mapSecurityScheme(schemeName, scheme, { scopes: [...scopes].sort(), baseUrl });
    if (mapping.inject) return { mapping, perOp };
    fallback ??= mapping;
  }
  if (!fallback && ranked.length === 0) {
    // No requirement anywhere: still offer the only declared scheme, if there is exactly one.
    const only = Object.entries(schemes);
    if (only.length === 1) {
      const [schemeName, scheme] = only[0]!;
      const mapping = mapSecurityScheme(schemeName, scheme, { baseUrl });
      if (mapping.inject) return { mapping, perOp };
      fallback = mapping;
    }
  }
  return fallback ? { mapping: fallback, perOp } : { perOp };
}

/** Compiles the document's operations into tool entries. Never throws for a bad operation: it reports it. */
export function openApiToTools(document: OpenApiDocument, options: ImportOptions): ImportResult {
  const ops = listOperations(document);
  const issues: ImportIssue[] = [];
  const tools: Record<string, ToolConfig> = {};
  const definitions: Record<string, ToolDefinition> = {};
  const origins = new Set<string>();
  const prefix = options.permissionPrefix ? cleanPrefix(options.permissionPrefix) : defaultPrefix(document);

  // Names are assigned over the whole document first, so filtering never changes a tool's name.
  const taken = new Set<string>();
  const names = new Map<Operation, string>();
  for (const o of ops) {
    const base = o.operationId
      ? sanitizeName(o.operationId)
      : sanitizeName(`${o.method.toLowerCase()}_${o.path.replace(/[{}]/g, '')}`);
    names.set(o, uniqueName(base, taken));
  }

  const wantedTags = options.tags && options.tags.length > 0 ? new Set(options.tags) : undefined;
  const wantedOps =
    options.operations && options.operations.length > 0 ? new Set(options.operations) : undefined;
  const selected = ops.filter((o) => {
    if (wantedTags) {
      const tags = Array.isArray(o.op.tags) ? o.op.tags : [];
      if (!tags.some((t) => typeof t === 'string' && wantedTags.has(t))) return false;
    }
    if (wantedOps && !wantedOps.has(o.operationId ?? '') && !wantedOps.has(names.get(o)!)) return false;
    return true;
  });
  for (const wanted of wantedOps ?? []) {
    if (!ops.some((o) => o.operationId === wanted || names.get(o) === wanted)) {
      issues.push({
        operation: '(document)',
        message: `operation "${wanted}" is not in the document`,
        skipped: false,
      });
    }
  }
  for (const wanted of wantedTags ?? []) {
    if (!ops.some((o) => Array.isArray(o.op.tags) && o.op.tags.includes(wanted))) {
      issues.push({ operation: '(document)', message: `no operation has tag "${wanted}"`, skipped: false });
    }
  }

  const firstBase = ops.map((o) => baseUrlFor(document, o, options)).find((b) => typeof b === 'string');
  const { mapping, perOp } = chooseScheme(document, ops, firstBase);
  if (mapping && !mapping.inject && options.credential) {
    issues.push({
      operation: '(document)',
      message: `security scheme "${mapping.scheme}": ${mapping.unsupported}`,
      skipped: false,
    });
  }

  const credentialParams: { header?: string; query?: string } = {};
  if (mapping?.inject?.type === 'header') credentialParams.header = mapping.inject.header.toLowerCase();
  if (mapping?.inject?.type === 'query') credentialParams.query = mapping.inject.param;
  for (const o of selected) {
    const name = names.get(o)!;
    const report = (message: string, skipped = false): void => {
      issues.push({ operation: o.label, message, skipped });
    };
    const compiled = compileOperation(document, o, prefix, options, credentialParams, report);
    if (!compiled) continue;
    const { definition } = compiled;
    const reqs = perOp.get(o);
    const isPublic = Array.isArray(reqs) && reqs.length === 0;
    if (options.credential && !isPublic) {
      definition.credential = options.credential;
      if (
        mapping?.inject &&
        reqs &&
        !reqs.some((r) => r[mapping.scheme] !== undefined || Object.keys(r).length === 0)
      ) {
        report(
          `requires security ${reqs.map((r) => Object.keys(r).join('+')).join(' or ')}, but the credential is for "${mapping.scheme}"`,
        );
      }
    }
    const parsed = toolSchema.safeParse(definition);
    if (!parsed.success) {
      report(`generated entry is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`, true);
      continue;
    }
    definitions[name] = definition;
    tools[name] = parsed.data;
    origins.add(compiled.origin);
  }
  const result: ImportResult = {
    tools,
    definitions,
    issues,
    operationCount: ops.length,
    origins: [...origins],
  };
  return mapping ? { ...result, security: mapping } : result;
}
