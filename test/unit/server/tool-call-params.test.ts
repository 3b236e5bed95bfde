/** tools/call params as keyward reads them: one line of -32602 naming what is wrong (issue 12 §6). */
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { toolCallParams } from '../../../src/server/tool-call-params.js';

const refusal = (params: unknown): string => {
  try {
    toolCallParams(params);
  } catch (error) {
    expect((error as { code: number }).code).toBe(ErrorCode.InvalidParams);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('toolCallParams', () => {
  it('reads name, arguments and the trace context', () => {
    expect(toolCallParams({ name: 't', arguments: { a: 1 }, _meta: { traceparent: 'x' } })).toEqual({
      name: 't',
      arguments: { a: 1 },
      traceParent: { traceparent: 'x' },
    });
  });

  it('names what is wrong in plain English (security review: "not a undefined")', () => {
    expect(refusal(undefined)).toBe(
      'MCP error -32602: tools/call needs params: an object with "name" and "arguments"',
    );
    expect(refusal(null)).toMatch(/params must be an object, not null$/);
    expect(refusal([])).toMatch(/params must be an object, not an array$/);
    expect(refusal({ name: 't', arguments: 'x' })).toMatch(
      /params.arguments must be a JSON object, not a string$/,
    );
    expect(refusal({ name: 't', arguments: 7 })).toMatch(/not a number$/);
    expect(refusal({ name: '' })).toMatch(/params.name must be a non-empty string$/);
    for (const params of [undefined, null, [], 7, 'x', true])
      expect(refusal(params)).not.toMatch(/\ba undefined|\ba object/);
  });
});
