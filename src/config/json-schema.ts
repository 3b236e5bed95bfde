/** The JSON Schema of the config file, generated from the zod schema (never written by hand). */
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  });
  allowInjectShorthand(schema);
  return { ...schema, title: 'keyward tools.config.json' };
}

type Node = Record<string, unknown>;

/**
 * `credentials.*.inject` also accepts the DESIGN.md shorthand without `type` (normalised by a
 * zod preprocess step, which JSON Schema cannot express).
 */
function allowInjectShorthand(schema: Node): void {
  const credentials = (schema.properties as Node | undefined)?.credentials as Node | undefined;
  const credential = credentials?.additionalProperties as Node | undefined;
  const properties = credential?.properties as Node | undefined;
  if (!properties?.inject) return;
  properties.inject = {
    anyOf: [
      properties.inject,
      {
        type: 'object',
        required: ['header'],
        properties: { header: { type: 'string' }, format: { type: 'string', pattern: '\\{value\\}' } },
        additionalProperties: false,
      },
      {
        type: 'object',
        required: ['query'],
        properties: { query: { type: 'string', minLength: 1 } },
        additionalProperties: false,
      },
    ],
  };
}
