/**
 * One direct check of an incoming `tools/call` request instead of the SDK's zod passes (issue 18).
 *
 * Per request, the SDK parses the message against its JSON-RPC union (stdio deserializer, HTTP
 * body), then its Protocol classifies it again with up to four schemas (result? error? request?
 * notification?), and a registered handler parses it once more. For the one request that carries
 * keyward's traffic, `isPlainToolCall` checks the same shape by hand; anything it does not accept
 * goes through the SDK's schema exactly as before, so the check can only narrow the fast path,
 * never widen what is accepted.
 */
import {
  JSONRPCMessageSchema,
  RELATED_TASK_META_KEY,
  type JSONRPCMessage,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';

export type ToolCallRequest = JSONRPCRequest & { method: 'tools/call' };

/** The keys the SDK's strict request schema allows at the top level. */
const REQUEST_KEYS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'method', 'params']);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * A `tools/call` request that the SDK's schema would accept and that needs nothing from the SDK's
 * task or progress machinery: no `params.task`, no related task, no progress token. Those (rare)
 * requests, and every other message, are left to the SDK.
 */
export function isPlainToolCall(value: unknown): value is ToolCallRequest {
  if (!isRecord(value) || value.method !== 'tools/call' || value.jsonrpc !== '2.0') return false;
  if (typeof value.id !== 'string' && !Number.isSafeInteger(value.id)) return false;
  for (const key of Object.keys(value)) if (!REQUEST_KEYS.has(key)) return false;
  const params = value.params;
  if (params === undefined) return true;
  if (!isRecord(params) || params.task !== undefined) return false;
  const meta = params._meta;
  if (meta === undefined) return true;
  return isRecord(meta) && meta.progressToken === undefined && meta[RELATED_TASK_META_KEY] === undefined;
}

/** A parsed JSON value as a JSON-RPC message; throws the SDK's validation error when it is none. */
export function toJsonRpcMessage(value: unknown): JSONRPCMessage {
  return isPlainToolCall(value) ? value : JSONRPCMessageSchema.parse(value);
}

/** Like `toJsonRpcMessage`, undefined instead of throwing. */
export function asJsonRpcMessage(value: unknown): JSONRPCMessage | undefined {
  if (isPlainToolCall(value)) return value;
  const parsed = JSONRPCMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
