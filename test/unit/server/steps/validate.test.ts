/** steps/validate.ts: arguments checked against the tool's schema before anything else runs. */
import { describe, expect, it } from 'vitest';
import { validateStep } from '../../../../src/server/steps/validate.js';
import { context, okResult } from './context.js';

describe('validate step', () => {
  it('sets the validated arguments and continues', async () => {
    const ctx = context('get_item', { id: '7' });
    let reached = false;
    await validateStep(ctx, () => {
      reached = true;
      return Promise.resolve(okResult);
    });
    expect(reached).toBe(true);
    expect(ctx.args).toEqual({ id: '7' });
  });

  it('invalid or unknown arguments: invalid_arguments, next never runs', () => {
    for (const raw of [{}, { id: 7 }, { id: '7', extra: 1 }]) {
      const ctx = context('get_item', raw);
      let reached = false;
      // The step throws synchronously (it is not async): the pipeline awaits it inside the step above.
      expect(() =>
        validateStep(ctx, () => {
          reached = true;
          return Promise.resolve(okResult);
        }),
      ).toThrow(expect.objectContaining({ code: 'invalid_arguments' }));
      expect(reached).toBe(false);
    }
  });

  it('arguments over 64 KiB are refused', () => {
    const ctx = context('get_item', { id: 'x'.repeat(70 * 1024) });
    expect(() => validateStep(ctx, () => Promise.resolve(okResult))).toThrow(/the limit is 65536/);
  });

  it('arguments nested 5,000 levels deep (10 KB) are invalid_arguments, not a stack overflow (security review)', () => {
    const deep = JSON.parse(`{"id":"7","n":${'['.repeat(5000)}${']'.repeat(5000)}}`) as unknown;
    const ctx = context('get_item', deep);
    expect(() => validateStep(ctx, () => Promise.resolve(okResult))).toThrow(
      expect.objectContaining({
        code: 'invalid_arguments',
        message: 'arguments nest deeper than 256 levels',
      }),
    );
  });
});
