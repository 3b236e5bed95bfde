/**
 * The JSON-RPC error answer for a stdio line that is not a message keyward can take (security
 * review): the spec's -32700 for a line that is not JSON, -32600 for JSON that is not a JSON-RPC 2.0
 * message. Without an answer a client waits for ever on a request it thinks it sent.
 *
 * The message names what is wrong but never quotes the line: it may be megabytes long or hold a
 * secret the agent pasted. Only the id is echoed, and only when it is one a request may carry (a
 * string or a safe integer), as the spec asks; anything else is answered with `id: null`.
 */
import { ErrorCode, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';

export interface Refusal {
  readonly code: ErrorCode.ParseError | ErrorCode.InvalidRequest;
  readonly id: RequestId | null;
  readonly message: string;
}

/** The answer's form on the wire; the SDK's type has no room for `id: null`. */
export function refusalMessage(refusal: Refusal): JSONRPCMessage {
  return {
    jsonrpc: '2.0',
    id: refusal.id,
    error: { code: refusal.code, message: refusal.message },
  } as unknown as JSONRPCMessage;
}

/**
 * A line JSON.parse refused. Its SyntaxError is not used: its text may quote the line, and what it
 * says (a position or not) differs between V8 versions, so the answer would too.
 */
export function parseErrorRefusal(line: string): Refusal {
  const why = line.includes('\u0000') ? ' (it holds a NUL character)' : '';
  return { code: ErrorCode.ParseError, id: null, message: `Parse error: the line is not valid JSON${why}` };
}

/** Parsed JSON the SDK's JSON-RPC schema refused. */
export function invalidRequestRefusal(value: unknown): Refusal {
  const id = isRecord(value) && isRequestId(value.id) ? value.id : null;
  return { code: ErrorCode.InvalidRequest, id, message: `Invalid Request: ${whyNotJsonRpc(value)}` };
}

const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESPONSE_MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'result', 'error']);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isRequestId = (value: unknown): value is RequestId =>
  typeof value === 'string' || Number.isSafeInteger(value);

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The first thing that keeps `value` from being a JSON-RPC message, in the order a reader checks
 * it; the same rules as the SDK's JSONRPCMessageSchema (requests, notifications, responses).
 */
export function whyNotJsonRpc(value: unknown): string {
  if (Array.isArray(value)) return 'batches (JSON arrays) are not supported; send one message per line';
  if (!isRecord(value)) return `a message must be a JSON object, not ${kindOf(value)}`;
  if (value.jsonrpc !== '2.0') return 'member "jsonrpc" must be "2.0"';
  if ('id' in value && !isRequestId(value.id)) {
    return `member "id" must be a string or a safe integer, not ${kindOf(value.id)}`;
  }
  if ('method' in value) return whyNotRequest(value);
  if ('result' in value || 'error' in value) return whyNotResponse(value);
  return 'a message needs "method" (a request or notification) or "result" / "error" (a response)';
}

function whyNotRequest(value: Record<string, unknown>): string {
  if (typeof value.method !== 'string') return 'member "method" must be a string';
  if (Object.keys(value).some((key) => !REQUEST_MEMBERS.has(key))) {
    return 'a request may hold only "jsonrpc", "id", "method" and "params"';
  }
  const params = value.params;
  if (params === undefined) return 'not a valid JSON-RPC 2.0 message';
  if (!isRecord(params)) return `member "params" must be an object, not ${kindOf(params)}`;
  const meta = params._meta;
  if (meta !== undefined && !isRecord(meta)) return `"params._meta" must be an object, not ${kindOf(meta)}`;
  if (meta !== undefined && meta.progressToken !== undefined && !isRequestId(meta.progressToken)) {
    return '"params._meta.progressToken" must be a string or a safe integer';
  }
  return 'not a valid JSON-RPC 2.0 message';
}

function whyNotResponse(value: Record<string, unknown>): string {
  if ('result' in value && 'error' in value) return 'a response holds "result" or "error", not both';
  if (Object.keys(value).some((key) => !RESPONSE_MEMBERS.has(key))) {
    return 'a response may hold only "jsonrpc", "id" and "result" or "error"';
  }
  if ('result' in value) {
    if (!('id' in value)) return 'a result needs member "id"';
    if (!isRecord(value.result)) return `member "result" must be an object, not ${kindOf(value.result)}`;
    return 'not a valid JSON-RPC 2.0 message';
  }
  const error = value.error;
  if (!isRecord(error)) return `member "error" must be an object, not ${kindOf(error)}`;
  if (!Number.isSafeInteger(error.code)) return '"error.code" must be an integer';
  if (typeof error.message !== 'string') return '"error.message" must be a string';
  return 'not a valid JSON-RPC 2.0 message';
}
