/**
 * The config is parsed once per start, so the loader asks zod not to generate and compile its fast
 * path (`new Function`) for the parses that would follow (issue 18 cold start). The result is the
 * same; the check here is that parsing a config compiles no code, on a schema module of its own
 * (zod keeps the compiled fast path on the schema, so an earlier parse would hide it).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { coreConfig } from '../../helpers/configs.js';

const realFunction = globalThis.Function;

afterEach(() => {
  globalThis.Function = realFunction;
});

describe('parseConfig', () => {
  it('compiles no code while parsing the config', async () => {
    vi.resetModules();
    const { parseConfig } = await import('../../../src/config/load.js');
    const compiled: string[] = [];
    globalThis.Function = new Proxy(realFunction, {
      construct(target, args: string[]) {
        compiled.push(args.at(-1) ?? '');
        return Reflect.construct(target, args) as object;
      },
      apply(target, thisArg, args: string[]) {
        compiled.push(args.at(-1) ?? '');
        return Reflect.apply(target, thisArg, args) as unknown;
      },
    });
    const loaded = parseConfig(coreConfig('/tmp/x', 'http://127.0.0.1:1'));
    globalThis.Function = realFunction;
    expect(Object.keys(loaded.config.tools).length).toBeGreaterThan(0);
    // zod's one-off probe of whether eval is allowed compiles an empty body; its fast paths do not
    expect(compiled.filter((body) => body !== '')).toEqual([]);
  });
});
