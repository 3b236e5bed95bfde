/**
 * The server side of one Streamable HTTP session (MCP 2025-03-26 .. 2025-11-25), written on
 * node:http's request and response directly.
 *
 * It answers what the SDK's StreamableHTTPServerTransport answers (status codes, JSON-RPC error
 * bodies, SSE framing, headers), without what that transport costs on every call: a Web Request
 * and Response built around node:http by @hono/node-server, a ReadableStream and TextEncoder per
 * POST, a keep-alive interval armed and cleared per POST, and several zod parses of every outgoing
 * message. No event store: streams are not resumable (keyward never configured one).
 *
 * A POST that carries requests is answered with an SSE stream. Its headers are held back until the
 * first message for it, so a call whose only message is its result goes out as one write with a
 * Content-Length; a call that sends a progress notification or an elicitation request first gets
 * its headers then, and a slow call gets them from the keep-alive sweep.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import {
  isInitializeRequest,
  JSONRPCMessageSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** The SDK transport's batch limit. */
export const MAX_BATCH_SIZE = 100;
/** How often open SSE streams are swept for held-back headers and keep-alives. */
const SWEEP_MS = 1_000;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
} as const;

export interface NodeStreamableTransportOptions {
  readonly sessionIdGenerator: () => string;
  /** Called once the initialize request has been accepted, before it reaches the server. */
  readonly onsessioninitialized?: (sessionId: string) => void;
  /** A POST's held-back SSE response gets its headers after this long without a message (5 s). */
  readonly headerFlushMs?: number;
  /** An SSE stream with nothing written for this long gets a `: keepalive` comment (15 s, as the SDK). */
  readonly keepAliveMs?: number;
}

interface StreamTimings {
  readonly headerFlushMs: number;
  readonly keepAliveMs: number;
}

/** One open SSE response: a POST's (answering its requests) or the session's standalone GET stream. */
class SseStream {
  headersSent = false;
  lastWrite: number;
  /** Requests of the POST still waiting for their response (empty for the GET stream). */
  readonly pending: Set<RequestId>;

  constructor(
    readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
    pending: RequestId[],
    now: number,
    readonly timings: StreamTimings,
  ) {
    this.pending = new Set(pending);
    this.lastWrite = now;
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  flushHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.res.writeHead(200, this.headers);
    this.res.flushHeaders();
  }

  write(text: string, now: number): void {
    if (!this.open) return;
    if (!this.headersSent) {
      this.headersSent = true;
      this.res.writeHead(200, this.headers);
    }
    this.lastWrite = now;
    this.res.write(text);
  }

  /** Ends the response, with `text` as its last event; one write when nothing went before. */
  end(text?: string): void {
    if (!this.open) return;
    if (!this.headersSent) {
      this.headersSent = true;
      this.res.writeHead(200, {
        ...this.headers,
        'Content-Length': text === undefined ? 0 : Buffer.byteLength(text),
      });
    }
    this.res.end(text);
  }
}

/** Every open SSE stream of every session, swept for held-back headers and keep-alives. */
const sweptStreams = new Set<SseStream>();
let sweepTimer: NodeJS.Timeout | undefined;

function watch(stream: SseStream): void {
  sweptStreams.add(stream);
  if (sweepTimer === undefined) {
    sweepTimer = setInterval(sweep, SWEEP_MS);
    sweepTimer.unref();
  }
}

function sweep(): void {
  const now = Date.now();
  for (const stream of sweptStreams) {
    if (!stream.open) {
      sweptStreams.delete(stream);
      continue;
    }
    if (!stream.headersSent) {
      if (now - stream.lastWrite >= stream.timings.headerFlushMs) {
        stream.flushHeaders();
        stream.lastWrite = now;
      }
    } else if (now - stream.lastWrite >= stream.timings.keepAliveMs) {
      stream.write(': keepalive\n\n', now);
    }
  }
  if (sweptStreams.size === 0 && sweepTimer !== undefined) {
    clearInterval(sweepTimer);
    sweepTimer = undefined;
  }
}

export class NodeStreamableHttpTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private started = false;
  private initialized = false;
  private closed = false;
  /** Request id → the POST stream its response goes to. */
  private readonly streamsByRequest = new Map<RequestId, SseStream>();
  private readonly postStreams = new Set<SseStream>();
  private standalone: SseStream | undefined;
  private readonly timings: StreamTimings;

  constructor(private readonly options: NodeStreamableTransportOptions) {
    this.timings = {
      headerFlushMs: options.headerFlushMs ?? 5_000,
      keepAliveMs: options.keepAliveMs ?? 15_000,
    };
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('Transport already started');
    this.started = true;
  }

  /** Serves one POST, GET or DELETE of this session; `body` is the parsed JSON of a POST. */
  async handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
    if (this.closed) {
      replyError(res, 404, -32001, 'Session not found');
      return;
    }
    switch (req.method) {
      case 'POST':
        this.handlePost(req, res, body);
        return;
      case 'GET':
        this.handleGet(req, res);
        return;
      case 'DELETE':
        await this.handleDelete(req, res);
        return;
      default:
        res.setHeader('Allow', 'GET, POST, DELETE');
        replyError(res, 405, -32000, 'Method not allowed.');
    }
  }

  private handlePost(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = req.headers.accept;
    if (
      accept === undefined ||
      !accept.includes('application/json') ||
      !accept.includes('text/event-stream')
    ) {
      replyError(
        res,
        406,
        -32000,
        'Not Acceptable: Client must accept both application/json and text/event-stream',
      );
      return;
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      replyError(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
      return;
    }
    if (Array.isArray(body) && body.length > MAX_BATCH_SIZE) {
      replyError(res, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);
      return;
    }
    const messages = parseMessages(body);
    if (messages === undefined) {
      replyError(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
      return;
    }
    const initializing = messages.some(
      (m) => 'method' in m && m.method === 'initialize' && isInitializeRequest(m),
    );
    if (initializing) {
      if (this.initialized) {
        replyError(res, 400, -32600, 'Invalid Request: Server already initialized');
        return;
      }
      if (messages.length > 1) {
        replyError(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
        return;
      }
      this.sessionId = this.options.sessionIdGenerator();
      this.initialized = true;
      this.options.onsessioninitialized?.(this.sessionId);
    } else if (!this.validSession(req, res) || !validProtocolVersion(req, res)) {
      return;
    }

    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers } };
    const requestIds: RequestId[] = [];
    for (const m of messages) if ('method' in m && 'id' in m) requestIds.push(m.id);
    if (requestIds.length === 0) {
      res.writeHead(202).end();
      for (const m of messages) this.onmessage?.(m, extra);
      return;
    }
    const stream = new SseStream(res, this.sseHeaders(), requestIds, Date.now(), this.timings);
    for (const id of requestIds) this.streamsByRequest.set(id, stream);
    this.postStreams.add(stream);
    watch(stream);
    res.once('close', () => {
      this.postStreams.delete(stream);
      sweptStreams.delete(stream);
    });
    for (const m of messages) this.onmessage?.(m, extra);
  }

  private handleGet(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.accept?.includes('text/event-stream')) {
      replyError(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
      return;
    }
    if (!this.validSession(req, res) || !validProtocolVersion(req, res)) return;
    if (this.standalone?.open === true) {
      replyError(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
      return;
    }
    const stream = new SseStream(res, this.sseHeaders(), [], Date.now(), this.timings);
    stream.flushHeaders();
    this.standalone = stream;
    watch(stream);
    res.once('close', () => {
      if (this.standalone === stream) this.standalone = undefined;
      sweptStreams.delete(stream);
    });
  }

  private async handleDelete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.validSession(req, res) || !validProtocolVersion(req, res)) return;
    res.writeHead(200).end();
    await this.close();
  }

  private validSession(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.initialized) {
      replyError(res, 400, -32000, 'Bad Request: Server not initialized');
      return false;
    }
    const header = req.headers['mcp-session-id'];
    if (header === undefined || header === '') {
      replyError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
      return false;
    }
    if (header !== this.sessionId) {
      replyError(res, 404, -32001, 'Session not found');
      return false;
    }
    return true;
  }

  private sseHeaders(): Record<string, string> {
    return this.sessionId === undefined
      ? { ...SSE_HEADERS }
      : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId };
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const isResponse = 'result' in message || 'error' in message;
    const requestId = isResponse ? (message as { id?: RequestId }).id : options?.relatedRequestId;
    const event = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    if (requestId === undefined) {
      if (isResponse) {
        throw new Error(
          'Cannot send a response on a standalone SSE stream unless resuming a previous client request',
        );
      }
      this.standalone?.write(event, Date.now());
      return;
    }
    const stream = this.streamsByRequest.get(requestId);
    if (stream === undefined) {
      if (this.closed) return;
      throw new Error(`No connection established for request ID: ${String(requestId)}`);
    }
    if (!isResponse) {
      stream.write(event, Date.now());
      return;
    }
    this.streamsByRequest.delete(requestId);
    stream.pending.delete(requestId);
    if (stream.pending.size > 0) {
      stream.write(event, Date.now());
      return;
    }
    stream.end(event);
    this.postStreams.delete(stream);
    sweptStreams.delete(stream);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.postStreams) {
      stream.end();
      sweptStreams.delete(stream);
    }
    this.postStreams.clear();
    this.streamsByRequest.clear();
    if (this.standalone !== undefined) {
      this.standalone.end();
      sweptStreams.delete(this.standalone);
      this.standalone = undefined;
    }
    this.onclose?.();
  }
}

/** Every message of a POST body (one or a batch), validated as the SDK validates them. */
function parseMessages(body: unknown): JSONRPCMessage[] | undefined {
  const raw = Array.isArray(body) ? body : [body];
  const messages: JSONRPCMessage[] = [];
  for (const item of raw) {
    const parsed = JSONRPCMessageSchema.safeParse(item);
    if (!parsed.success) return undefined;
    messages.push(parsed.data);
  }
  return messages.length === 0 ? undefined : messages;
}

function validProtocolVersion(req: IncomingMessage, res: ServerResponse): boolean {
  const version = req.headers['mcp-protocol-version'];
  if (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(String(version))) return true;
  const supported = SUPPORTED_PROTOCOL_VERSIONS.join(', ');
  replyError(
    res,
    400,
    -32000,
    `Bad Request: Unsupported protocol version: ${String(version)} (supported versions: ${supported})`,
  );
  return false;
}

function replyError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
