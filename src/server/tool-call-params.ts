/**
 * The `tools/call` request as keyward reads it. The SDK's Server validates these params with zod
 * and answers a malformed request with a multi-line validator dump (-32603 for the registered
 * schema, -32602 with the dump for its own check). keyward registers a schema that only fixes the
 * method and checks the params itself, so an agent sending `"arguments": "x"` gets one line of
 * JSON-RPC -32602 naming what is wrong (issue 12 §6).
 */
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MAX_TRACEPARENT_LENGTH, MAX_TRACESTATE_LENGTH, type TraceParent } from '../observability/tracing.js';

export const ToolCallRequestSchema = z
  .object({ method: z.literal('tools/call'), params: z.unknown().optional() })
  .passthrough();

export interface ToolCallParams {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>> | undefined;
  /** `_meta.traceparent` / `tracestate` when they are strings (parsed only when tracing is on). */
  readonly traceParent: TraceParent | undefined;
}

function traceParentOf(meta: unknown): TraceParent | undefined {
  if (meta === null || typeof meta !== 'object') return undefined;
  const { traceparent, tracestate } = meta as Record<string, unknown>;
  if (typeof traceparent !== 'string' || traceparent.length > MAX_TRACEPARENT_LENGTH) return undefined;
  return typeof tracestate === 'string' && tracestate.length <= MAX_TRACESTATE_LENGTH
    ? { traceparent, tracestate }
    : { traceparent };
}

/** What a value is, as the end of "must be …, not …": "null", "an array", "a string", "an object". */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}

export function toolCallParams(params: unknown): ToolCallParams {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    const message =
      params === undefined
        ? 'tools/call needs params: an object with "name" and "arguments"'
        : `tools/call params must be an object, not ${kindOf(params)}`;
    throw new McpError(ErrorCode.InvalidParams, message);
  }
  const { name, arguments: args, _meta: meta } = params as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') {
    throw new McpError(ErrorCode.InvalidParams, 'tools/call params.name must be a non-empty string');
  }
  if (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args))) {
    throw new McpError(
      ErrorCode.InvalidParams,
      `tools/call params.arguments must be a JSON object, not ${kindOf(args)}`,
    );
  }
  return { name, arguments: args as Record<string, unknown> | undefined, traceParent: traceParentOf(meta) };
}
