/**
 * Compiles each tool's input JSON Schema once (ajv, JSON Schema 2020-12) and validates arguments
 * strictly: unknown keys are rejected unless the schema explicitly allows them.
 *
 * A schema is checked against the 2020-12 meta-schema before it is compiled, as `ajv.compile`
 * does, but with ajv's own validator of the meta-schema generated ahead of time
 * (json-schema-meta.generated.ts, scripts/gen-json-schema-meta.ts) instead of compiling the
 * meta-schema at every start (~60 ms of CPU before the first result; issue 18, cold start). A
 * schema that names another `$schema` goes through ajv's own check, as before.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { KeywardError } from '../core/errors.js';
import { DEFAULTS } from '../config/defaults.js';
import { withinDepth } from '../upstream/json-body.js';
import { MAX_JSON_DEPTH } from '../upstream/redaction.js';
import { AJV_OPTIONS, JSON_SCHEMA_2020_12 } from './ajv-options.js';
import { validate as validateMetaSchemaModule } from './json-schema-meta.generated.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const validateMetaSchema = validateMetaSchemaModule as unknown as ValidateFunction;

export type ArgumentValidator = (args: unknown) => Record<string, unknown>;

/** Returns the schema agents see: a copy with `additionalProperties: false` unless set explicitly. */
export function strictInputSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...schema, type: 'object' };
  if (!('additionalProperties' in out)) out.additionalProperties = false;
  if (!('properties' in out)) out.properties = {};
  return out;
}

export function createValidatorFactory(): (
  schema: Record<string, unknown>,
  path: string,
) => ArgumentValidator {
  const ajv = new Ajv2020({ ...AJV_OPTIONS, validateSchema: false });
  addFormats(ajv);
  return (schema, path) => {
    let validate: ValidateFunction;
    try {
      checkSchema(ajv, schema);
      validate = ajv.compile(schema);
    } catch (error) {
      throw new Error(`${path}: invalid JSON Schema: ${(error as Error).message}`);
    }
    return (args) => {
      const value = args ?? {};
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new KeywardError('invalid_arguments', 'arguments must be a JSON object');
      }
      const infinite = nonFinitePath(value, 'arguments');
      if (infinite !== undefined) {
        // JSON `1e400` parses to Infinity: forwarded it would become `null`, and a CEL condition
        // would compare it. It is not a number any schema means.
        throw new KeywardError('invalid_arguments', `invalid arguments: ${infinite} is not a finite number`);
      }
      if (!validate(value)) throw new KeywardError('invalid_arguments', describe(validate.errors ?? []));
      return value as Record<string, unknown>;
    };
  };
}

/** Throws what `ajv.compile` throws for a schema its meta-schema refuses ("schema is invalid: …"). */
function checkSchema(ajv: Ajv2020, schema: Record<string, unknown>): void {
  const meta = schema.$schema;
  if (meta !== undefined && meta !== JSON_SCHEMA_2020_12) {
    // ajv's own check against the meta-schema it names: throws when it refuses or does not know it
    void ajv.validateSchema(schema, true);
    return;
  }
  if (!validateMetaSchema(schema))
    throw new Error(`schema is invalid: ${ajv.errorsText(validateMetaSchema.errors)}`);
}

/** The path of the first Infinity or NaN inside `value`, or undefined. */
function nonFinitePath(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [`${path}[${i}]`, item])
    : Object.entries(value).map(([key, item]) => [`${path}.${key.slice(0, 64)}`, item]);
  for (const [where, item] of entries) {
    const found = nonFinitePath(item, where, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Size cap on serialized arguments (DESIGN.md §10: 64 KiB), after a depth cap: 5,000 levels of
 * `[` are 10 KB, well under the size cap, yet enough to overflow the stack of JSON.stringify here
 * and of every recursive walker after it (ajv, CEL, templating). The depth check is iterative, so
 * it cannot overflow itself (security review).
 */
export function checkArgumentSize(args: unknown): void {
  if (args === undefined) return;
  if (!withinDepth(args, MAX_JSON_DEPTH)) {
    throw new KeywardError('invalid_arguments', `arguments nest deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const size = Buffer.byteLength(JSON.stringify(args));
  if (size > DEFAULTS.http.maxArgumentsBytes) {
    throw new KeywardError(
      'invalid_arguments',
      `arguments are ${size} bytes; the limit is ${DEFAULTS.http.maxArgumentsBytes}`,
    );
  }
}

function describe(errors: readonly ErrorObject[]): string {
  const parts = errors.slice(0, 5).map((e) => {
    const where =
      e.instancePath === '' ? 'arguments' : `argument ${e.instancePath.slice(1).replace(/\//g, '.')}`;
    if (e.keyword === 'additionalProperties') {
      return `unknown argument "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
    }
    if (e.keyword === 'required') {
      return `missing required argument "${String((e.params as { missingProperty: string }).missingProperty)}"`;
    }
    return `${where} ${e.message ?? 'is invalid'}`;
  });
  const more = errors.length > 5 ? ` (and ${errors.length - 5} more)` : '';
  return `invalid arguments: ${parts.join('; ')}${more}`;
}
