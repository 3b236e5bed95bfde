/**
 * Fair sharing at the door of the HTTP transports (issue 14): a cap on sessions per principal
 * beside the global one, and a JSON-RPC batch that asks for more tool calls than its principal may
 * still run is refused whole (429) instead of queued.
 */
import type { ServerResponse } from 'node:http';
import type { Principal } from '../core/types.js';
import { principalKey, type InFlightLimiter } from '../policy/in-flight-limiter.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import type { SessionAdmission } from './session-registry.js';

/** Answers 503 (every slot taken) or 429 (this principal's slots taken); true when admitted. */
export function admitted(admission: SessionAdmission, res: ServerResponse): boolean {
  if (admission === 'ok') return true;
  res.setHeader('Retry-After', '30');
  if (admission === 'full') sendJsonRpcError(res, 503, 'Too many sessions; retry later');
  else sendJsonRpcError(res, 429, 'Too many sessions for this principal; close one or retry later');
  return false;
}

function toolCalls(body: unknown): number {
  const messages = Array.isArray(body) ? body : [body];
  return messages.filter(
    (m) => m !== null && typeof m === 'object' && (m as { method?: unknown }).method === 'tools/call',
  ).length;
}

/**
 * A batch (an array) whose tool calls exceed what this principal may still run is answered 429
 * as a whole; a single call is admitted here and limited by the gateway (`rate_limited`).
 */
export async function batchFits(
  body: unknown,
  principal: Principal,
  limiter: InFlightLimiter | undefined,
  res: ServerResponse,
): Promise<boolean> {
  if (limiter === undefined || !Array.isArray(body)) return true;
  const calls = toolCalls(body);
  if (calls <= (await limiter.available(principalKey(principal)))) return true;
  res.setHeader('Retry-After', '1');
  sendJsonRpcError(
    res,
    429,
    `Too many tool calls: this batch has ${calls}; at most ${limiter.max} run at once per principal`,
  );
  return false;
}
