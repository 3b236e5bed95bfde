/**
 * The direct path for `tools/call` (issue 18): a Transport decorator between the wire and the SDK's
 * Server that answers plain `tools/call` requests (json-rpc-message.ts) itself and hands every other
 * message to the SDK unchanged.
 *
 * What the SDK's Protocol does per request, and why skipping it loses nothing here: it classifies
 * the message with up to four zod schemas (the transport has already validated it), looks up a task
 * store keyward does not use, builds a closure-heavy `extra`, and parses the request against the
 * handler's schema again. This lane keeps the parts keyward relies on, with the same semantics:
 * - one AbortController per request, aborted by `notifications/cancelled` for its id and when the
 *   transport closes; a cancelled request gets no response;
 * - the response, or the JSON-RPC error built as the SDK builds it (`code` when it is an integer,
 *   else -32603; `message`; `data` when present), sent on the same transport.
 * Initialize, tools/list, pings, notifications, the client's answers to keyward's own elicitation
 * requests, and `tools/call` requests that use tasks or progress tokens all still go to the SDK.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { isPlainToolCall, type ToolCallRequest } from './json-rpc-message.js';

/** What a tool call's handler gets besides the params (the SDK's `extra`, reduced to what keyward uses). */
export interface ToolCallExchange {
  readonly requestId: RequestId;
  readonly signal: AbortSignal;
  readonly sessionId?: string | undefined;
}

export type ToolCallAnswer = (request: ToolCallRequest, exchange: ToolCallExchange) => Promise<unknown>;

export class ToolCallLane implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private readonly inFlight = new Map<RequestId, AbortController>();

  constructor(
    private readonly inner: Transport,
    private readonly answer: ToolCallAnswer,
  ) {}

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  start(): Promise<void> {
    this.inner.onmessage = (message, extra) => {
      if (isPlainToolCall(message)) {
        void this.serve(message);
        return;
      }
      if ('method' in message && message.method === 'notifications/cancelled' && !('id' in message)) {
        const requestId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        if (requestId !== undefined) this.inFlight.get(requestId)?.abort(message.params?.reason);
      }
      this.onmessage?.(message, extra);
    };
    this.inner.onclose = () => {
      for (const controller of this.inFlight.values()) controller.abort();
      this.inFlight.clear();
      this.onclose?.();
    };
    this.inner.onerror = (error) => this.onerror?.(error);
    return this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async serve(request: ToolCallRequest): Promise<void> {
    const controller = new AbortController();
    this.inFlight.set(request.id, controller);
    let response: JSONRPCMessage;
    try {
      const result = await this.answer(request, {
        requestId: request.id,
        signal: controller.signal,
        sessionId: this.inner.sessionId,
      });
      response = { jsonrpc: '2.0', id: request.id, result: result as Record<string, unknown> };
    } catch (error) {
      response = { jsonrpc: '2.0', id: request.id, error: jsonRpcError(error) };
    } finally {
      // A client may reuse an id once answered; only the controller of this request is removed.
      if (this.inFlight.get(request.id) === controller) this.inFlight.delete(request.id);
    }
    if (controller.signal.aborted) return;
    await this.inner.send(response).catch((error: unknown) => {
      this.onerror?.(new Error(`Failed to send response: ${String(error)}`));
    });
  }
}

/** The SDK Protocol's error response for a handler's error. */
function jsonRpcError(error: unknown): { code: number; message: string; data?: unknown } {
  const fields = (error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
  return {
    code: Number.isSafeInteger(fields.code) ? (fields.code as number) : ErrorCode.InternalError,
    message: typeof fields.message === 'string' ? fields.message : 'Internal error',
    ...(fields.data === undefined ? {} : { data: fields.data }),
  };
}
