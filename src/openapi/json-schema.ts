/**
 * Converts an (already dereferenced, possibly cyclic) OpenAPI schema into a plain JSON Schema that a
 * strict validator accepts: a keyword allowlist, OpenAPI-isms rewritten (`nullable`, boolean
 * `exclusiveMinimum`), readOnly properties dropped, descriptions cleaned, depth and size capped.
 */
import { cleanDescription, PROPERTY_DESCRIPTION_MAX_LENGTH } from './sanitize.js';

export type JsonSchema = Record<string, unknown>;

/** Nesting below this depth, or a cycle, becomes `{}` (any value). */
export const MAX_SCHEMA_DEPTH = 8;
/** At most this many schema nodes per converted schema; the rest becomes `{}`. */
export const MAX_SCHEMA_NODES = 4000;

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'array', 'object', 'null']);
/** The formats ajv-formats knows; any other `format` is dropped rather than failing compilation. */
const FORMATS = new Set([
  'date',
  'time',
  'date-time',
  'iso-time',
  'iso-date-time',
  'duration',
  'uri',
  'uri-reference',
  'uri-template',
  'url',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'regex',
  'uuid',
  'json-pointer',
  'relative-json-pointer',
  'byte',
  'int32',
  'int64',
  'float',
  'double',
  'password',
  'binary',
]);
const NUMBER_KEYS = ['minimum', 'maximum', 'multipleOf'] as const;
const COUNT_KEYS = [
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
] as const;

export interface ConvertOptions {
  /** Drop `readOnly` properties (true for request input). */
  readonly dropReadOnly?: boolean;
}

interface State {
  readonly ancestors: Set<object>;
  nodes: number;
  readonly dropReadOnly: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function validPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length > 1000) return false;
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

function convertList(list: unknown, state: State, depth: number): JsonSchema[] | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return list.slice(0, 50).map((item) => convert(item, state, depth + 1));
}

function convert(schema: unknown, state: State, depth: number): JsonSchema {
  if (!isObject(schema)) return typeof schema === 'boolean' && !schema ? { not: {} } : {};
  if (state.ancestors.has(schema) || depth > MAX_SCHEMA_DEPTH || state.nodes >= MAX_SCHEMA_NODES) return {};
  if (typeof schema.$ref === 'string') return {}; // an unresolved (external or refused) reference
  state.nodes++;
  state.ancestors.add(schema);
  try {
    const out: JsonSchema = {};
    let types: string[] = [];
    if (typeof schema.type === 'string') types = [schema.type];
    else if (Array.isArray(schema.type))
      types = schema.type.filter((t): t is string => typeof t === 'string');
    types = types.map((t) => (t === 'file' ? 'string' : t)).filter((t) => TYPES.has(t));
    if (schema.nullable === true && types.length > 0 && !types.includes('null')) types.push('null');
    if (types.length === 1) out.type = types[0];
    else if (types.length > 1) out.type = [...new Set(types)];

    if (typeof schema.title === 'string') {
      const title = cleanDescription(schema.title, 120);
      if (title) out.title = title;
    }
    if (typeof schema.description === 'string') {
      const description = cleanDescription(schema.description, PROPERTY_DESCRIPTION_MAX_LENGTH);
      if (description) out.description = description;
    }
    if (typeof schema.format === 'string' && FORMATS.has(schema.format)) out.format = schema.format;
    if (validPattern(schema.pattern)) out.pattern = schema.pattern;
    for (const key of NUMBER_KEYS) if (typeof schema[key] === 'number') out[key] = schema[key];
    if (typeof out.multipleOf === 'number' && out.multipleOf <= 0) delete out.multipleOf;
    for (const key of COUNT_KEYS) if (isCount(schema[key])) out[key] = schema[key];
    if (schema.exclusiveMinimum === true && typeof out.minimum === 'number') {
      out.exclusiveMinimum = out.minimum;
      delete out.minimum;
    } else if (typeof schema.exclusiveMinimum === 'number') out.exclusiveMinimum = schema.exclusiveMinimum;
    if (schema.exclusiveMaximum === true && typeof out.maximum === 'number') {
      out.exclusiveMaximum = out.maximum;
      delete out.maximum;
    } else if (typeof schema.exclusiveMaximum === 'number') out.exclusiveMaximum = schema.exclusiveMaximum;
    if (typeof schema.uniqueItems === 'boolean') out.uniqueItems = schema.uniqueItems;
    if (Array.isArray(schema.enum) && schema.enum.length > 0) {
      const values: unknown[] = schema.enum.slice(0, 500);
      if (schema.nullable === true && !values.includes(null)) values.push(null);
      out.enum = values;
    }
    if ('const' in schema) out.const = schema.const;
    if ('default' in schema && schema.default !== undefined) out.default = schema.default;

    if (isObject(schema.properties)) {
      const properties: Record<string, JsonSchema> = {};
      const dropped = new Set<string>();
      for (const [name, sub] of Object.entries(schema.properties)) {
        if (state.dropReadOnly && isObject(sub) && sub.readOnly === true) {
          dropped.add(name);
          continue;
        }
        properties[name] = convert(sub, state, depth + 1);
      }
      out.properties = properties;
      if (Array.isArray(schema.required)) {
        const required = [
          ...new Set(schema.required.filter((r): r is string => typeof r === 'string' && !dropped.has(r))),
        ];
        if (required.length > 0) out.required = required;
      }
    } else if (Array.isArray(schema.required)) {
      const required = [...new Set(schema.required.filter((r): r is string => typeof r === 'string'))];
      if (required.length > 0) out.required = required;
    }
    if (typeof schema.additionalProperties === 'boolean')
      out.additionalProperties = schema.additionalProperties;
    else if (isObject(schema.additionalProperties)) {
      out.additionalProperties = convert(schema.additionalProperties, state, depth + 1);
    }
    if (isObject(schema.items)) out.items = convert(schema.items, state, depth + 1);
    else if (Array.isArray(schema.items) && schema.items.length > 0)
      out.items = convert(schema.items[0], state, depth + 1);
    for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
      const list = convertList(schema[key], state, depth);
      if (list) out[key] = list;
    }
    if (isObject(schema.not)) out.not = convert(schema.not, state, depth + 1);
    return mergeAllOf(out);
  } finally {
    state.ancestors.delete(schema);
  }
}

const MERGEABLE = new Set(['type', 'properties', 'required', 'description', 'title']);

/**
 * `allOf` whose parts are all plain object schemas (the usual composition/inheritance idiom) becomes
 * one object schema, so a request body built with allOf can still be flattened into arguments.
 */
export function mergeAllOf(schema: JsonSchema): JsonSchema {
  const parts = schema.allOf;
  if (!Array.isArray(parts)) return schema;
  const plain = (parts as JsonSchema[]).every(
    (p) => Object.keys(p).every((k) => MERGEABLE.has(k)) && (p.type === undefined || p.type === 'object'),
  );
  if (!plain) return schema;
  const { allOf: _allOf, ...rest } = schema;
  if (rest.type !== undefined && rest.type !== 'object') return schema;
  const properties: Record<string, JsonSchema> = {
    ...((rest.properties as Record<string, JsonSchema>) ?? {}),
  };
  const required = new Set<string>((rest.required as string[] | undefined) ?? []);
  let description = rest.description as string | undefined;
  for (const part of parts as JsonSchema[]) {
    Object.assign(properties, (part.properties as Record<string, JsonSchema> | undefined) ?? {});
    for (const r of (part.required as string[] | undefined) ?? []) required.add(r);
    if (description === undefined && typeof part.description === 'string') description = part.description;
  }
  const merged: JsonSchema = { ...rest, type: 'object', properties };
  if (description !== undefined) merged.description = description;
  if (required.size > 0) merged.required = [...required];
  return merged;
}

/** Converts one OpenAPI schema to JSON Schema; never throws, never recurses without bound. */
export function toJsonSchema(schema: unknown, options: ConvertOptions = {}): JsonSchema {
  return convert(schema, { ancestors: new Set(), nodes: 0, dropReadOnly: options.dropReadOnly ?? true }, 0);
}

/** The JSON Schema of a Swagger 2.0 non-body parameter, whose schema keywords sit on the parameter itself. */
export function swagger2ParameterSchema(parameter: Record<string, unknown>): JsonSchema {
  const {
    name: _n,
    in: _in,
    required: _r,
    description: _d,
    collectionFormat: _c,
    allowEmptyValue: _a,
    ...rest
  } = parameter;
  return toJsonSchema(rest);
}
