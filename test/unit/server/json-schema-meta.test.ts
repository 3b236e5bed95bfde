/**
 * Tool input schemas are checked against the JSON Schema 2020-12 meta-schema with ajv's validator
 * generated ahead of time (src/server/json-schema-meta.generated.ts) instead of one compiled at
 * every start (issue 18, cold start). The check must stay the one `ajv.compile` makes: the
 * committed file is what the generator makes from the installed ajv, its verdicts and errors are
 * ajv's own on valid and invalid schemas, and an invalid schema still refuses the tool.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILE, generateMetaSchemaValidator } from '../../../scripts/gen-json-schema-meta.js';
import { AJV_OPTIONS } from '../../../src/server/ajv-options.js';
import { createValidatorFactory } from '../../../src/server/argument-validator.js';
import { validate as generated } from '../../../src/server/json-schema-meta.generated.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const validateGenerated = generated as unknown as ((schema: unknown) => boolean) & { errors?: unknown };

const VALID: Record<string, unknown>[] = [
  { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z]+$' } }, required: ['id'] },
  {
    type: 'object',
    properties: { n: { type: 'integer', minimum: 0, maximum: 10 } },
    additionalProperties: false,
  },
  { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' }, uniqueItems: true } } },
  {
    type: 'object',
    properties: { at: { type: 'string', format: 'date-time' } },
    $defs: { x: { type: 'null' } },
  },
  { type: 'object', oneOf: [{ required: ['a'] }, { required: ['b'] }], unevaluatedProperties: false },
  { type: 'object', prefixItems: [{ type: 'string' }], dependentRequired: { a: ['b'] } },
  { type: 'object', $schema: 'https://json-schema.org/draft/2020-12/schema', properties: {} },
];

const INVALID: Record<string, unknown>[] = [
  { type: 'strin' },
  { type: 'object', required: 'id' },
  { type: 'object', properties: 1 },
  { type: 'object', properties: { a: { type: 'nope' } } },
  { type: 'object', properties: { a: { minLength: -1 } } },
  { type: 'object', $defs: { x: { type: 3 } } },
  { type: 'object', anyOf: [] },
  { type: 'object', properties: { a: { enum: 'x' } } },
  { type: 'object', prefixItems: [{ type: 'zz' }] },
  { type: 'object', properties: { a: { items: { maximum: 'ten' } } } },
  { type: 'object', dependentRequired: { a: 'b' } },
  { type: 'object', $anchor: '1 not an anchor' },
];

function runtimeAjv(): Ajv2020 {
  const ajv = new Ajv2020({ ...AJV_OPTIONS });
  addFormats(ajv);
  return ajv;
}

describe('the precompiled JSON Schema 2020-12 meta-schema check', () => {
  it('is what the generator makes from the installed ajv', () => {
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(generateMetaSchemaValidator());
  });

  it("gives ajv's own verdict and errors on valid and invalid schemas", () => {
    const ajv = runtimeAjv();
    for (const schema of [...VALID, ...INVALID]) {
      const expected = ajv.validateSchema(schema);
      expect(validateGenerated(schema), JSON.stringify(schema)).toBe(expected);
      expect(validateGenerated.errors ?? null, JSON.stringify(schema)).toEqual(ajv.errors ?? null);
    }
  });

  it('refuses a tool whose input schema is invalid, with the message ajv.compile gives', () => {
    const validatorFor = createValidatorFactory();
    for (const schema of INVALID) {
      let compileError = '';
      try {
        runtimeAjv().compile(schema);
      } catch (error) {
        compileError = (error as Error).message;
      }
      expect(compileError).toMatch(/^schema is invalid: /);
      expect(() => validatorFor(schema, 'tools.t.input')).toThrow(
        `tools.t.input: invalid JSON Schema: ${compileError}`,
      );
    }
    for (const schema of VALID) expect(() => validatorFor(schema, 'tools.t.input')).not.toThrow();
  });

  it('still refuses a schema that names a meta-schema ajv does not know', () => {
    const validatorFor = createValidatorFactory();
    expect(() =>
      validatorFor({ type: 'object', $schema: 'http://json-schema.org/draft-07/schema#' }, 'tools.t.input'),
    ).toThrow(/tools\.t\.input: invalid JSON Schema: no schema with key or ref/);
  });
});
