import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../../src/config/json-schema.js';
import { parseConfig } from '../../../src/config/load.js';
import { coreConfig } from '../../helpers/configs.js';

describe('the editor JSON Schema', () => {
  it('is the committed schema/tools.config.schema.json (regenerate with `npm run schema`)', () => {
    const committed: unknown = JSON.parse(
      readFileSync(new URL('../../../schema/tools.config.schema.json', import.meta.url), 'utf8'),
    );
    expect(committed).toEqual(configJsonSchema());
  });

  it('accepts a real config and rejects what the zod schema rejects', () => {
    const validate = new Ajv2020({ strict: false }).compile(configJsonSchema());
    const good = coreConfig('/tmp/x', 'http://127.0.0.1:1');
    expect(() => parseConfig(good)).not.toThrow();
    expect(validate(good), JSON.stringify(validate.errors)).toBe(true);
    const bad = { ...good, tools: { t: { permission: 'p', request: { method: 'FETCH', url: 'http://x' } } } };
    expect(validate(bad)).toBe(false);
    expect(() => parseConfig(bad)).toThrow();
    expect(validate({ ...good, unknownSection: {} })).toBe(false);
  });
});
