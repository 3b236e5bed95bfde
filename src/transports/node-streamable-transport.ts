/**
 * The server side of one Streamable HTTP session (MCP 2025-03-26 .. 2025-11-25), written on
 * node:http's request and response directly.
 *
 * It answers what the SDK's StreamableHTTPServerTransport answers (status codes, JSON-RPC error
 * bodies, SSE framing, headers), without what that transport costs on every call: a Web Request
 * and Response built around node:http by @hono/node-server, a ReadableStream and TextEncoder per
 * POST, a keep-alive interval armed and cleared per POST, and several zod parses of every outgoing
 * message.
 *
 * Streams are resumable when the transport has an event log (event-store/): every message on an
 * SSE stream is stored with an event id (`<session>.<stream>.<seq>`) before it is written, a POST
 * stream of a 2025-11-25 session opens with a priming event (an id, a `retry:` field and empty
 * data), and a GET with `Last-Event-ID` replays what followed that event on its stream and then
 * carries the stream's live messages, as the SDK transport does with an `eventStore`.
 *
 * A POST that carries requests is answered with an SSE stream. Its headers are held back until the
 * first message for it, so a call whose only message is its result goes out as one write with a
 * Content-Length (priming event and result together); a call that sends a progress notification or an elicitation request first gets
 * its headers then, and a slow call gets them from the keep-alive sweep.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import { formatEventId, parseEventId, type SessionEventLog } from './event-store/event-store.js';
import { asJsonRpcMessage } from '../server/json-rpc-message.js';
import { stallTimeoutMs } from './unsent-answers.js';
import {
  isInitializeRequest,
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
  /**
   * An SSE response whose socket moved no byte for this long (its client stopped reading: even
   * the keep-alives stay queued) is closed, with what it still held (default 60 s, and at least
   * four keep-alives). Without it a client that never reads kept its connection, and every answer
   * queued for it, for as long as it liked.
   */
  readonly stallMs?: number;
  /** The session's event log (resumable streams); called once the session id is known. */
  readonly events?: (sessionId: string) => SessionEventLog;
  /** The `retry:` of priming events: how long a client waits before it reconnects (ms). */
  readonly retryMs?: number;
  /** Resumed streams one session may hold open at once (beyond: 429). */
  readonly maxResumedStreams?: number;
  /**
   * A primed POST stream still waiting for its response after this long is closed, and its client
   * reconnects with Last-Event-ID after `retry` (SEP-1699 polling). Unset: never.
   */
  readonly closeAfterMs?: number;
}

/** A POST's stream (or the standalone GET stream, number 0) across the connections that carry it. */
interface LogicalStream {
  readonly no: number;
  /** Sequence of the last message sent on it. */
  seq: number;
  /** Requests still waiting for their response. */
  readonly pending: Set<RequestId>;
}

interface StreamTimings {
  readonly headerFlushMs: number;
  readonly keepAliveMs: number;
  readonly stallMs: number;
}

/** One open SSE response: a POST's (answering its requests), a resumed stream, or the standalone GET stream. */
class SseStream {
  headersSent = false;
  lastWrite: number;
  /** Sequence of the last stored event written (a replay and a live send never write one twice). */
  delivered = 0;
  /** While a resume replays stored events, live ones wait here. */
  held: { seq: number; text: string; final: boolean }[] | undefined;
  resumed = false;
  /** When the sweep closes this stream for the client to poll (a primed POST stream). */
  closeAt: number | undefined;

  constructor(
    readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
    now: number,
    readonly timings: StreamTimings,
    /** Written first, with the headers (a priming event). */
    private prefix = '',
  ) {
    this.lastWrite = now;
    // The socket's inactivity timer: each byte written or read restarts it, so a client that
    // reads (keep-alives every keepAliveMs) is never cut; with no listener Node destroys the socket.
    res.setTimeout(timings.stallMs);
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  flushHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.res.writeHead(200, this.headers);
    if (this.prefix === '') this.res.flushHeaders();
    else this.res.write(this.prefix);
    this.prefix = '';
  }

  write(text: string, now: number): void {
    if (!this.open) return;
    if (!this.headersSent) {
      this.headersSent = true;
      this.res.writeHead(200, this.headers);
      text = this.prefix + text;
      this.prefix = '';
    }
    this.lastWrite = now;
    this.res.write(text);
  }

  /** Ends the response, with `text` as its last event; one write when nothing went before. */
  end(text = ''): void {
    if (!this.open) return;
    if (!this.headersSent) {
      this.headersSent = true;
      const body = this.prefix + text;
      this.prefix = '';
      this.res.writeHead(200, { ...this.headers, 'Content-Length': Buffer.byteLength(body) });
      this.res.end(body);
      return;
    }
    this.res.end(text === '' ? undefined : text);
  }

  /** Writes one stored (seq > 0) or unstored (seq 0) event unless it went out already; ends the stream after a final one. */
  deliver(seq: number, text: string, final: boolean, now: number): void {
    if (seq > 0) {
      if (this.held !== undefined) {
        this.held.push({ seq, text, final });
        return;
      }
      if (seq <= this.delivered) return;
      this.delivered = seq;
    }
    if (final) this.end(text);
    else this.write(text, now);
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
    if (stream.closeAt !== undefined && now >= stream.closeAt) {
      stream.end();
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
  /** Request id → the stream its response goes on. */
  private readonly streamsByRequest = new Map<RequestId, LogicalStream>();
  /** Stream number → the connection that carries it now (a POST's, or a resume's). */
  private readonly connections = new Map<number, SseStream>();
  private standalone: SseStream | undefined;
  private readonly standaloneStream: LogicalStream = { no: 0, seq: 0, pending: new Set() };
  private lastStreamNo = 0;
  private log: SessionEventLog | undefined;
  /** The session speaks 2025-11-25 or later: its POST streams open with a priming event. */
  private priming = false;
  private readonly timings: StreamTimings;

  constructor(private readonly options: NodeStreamableTransportOptions) {
    const headerFlushMs = options.headerFlushMs ?? 5_000;
    const keepAliveMs = options.keepAliveMs ?? 15_000;
    this.timings = {
      headerFlushMs,
      keepAliveMs,
      stallMs: stallTimeoutMs(keepAliveMs, options.stallMs, headerFlushMs),
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
        await this.handleGet(req, res);
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
    const initialize = messages.find(
      (m) => 'method' in m && m.method === 'initialize' && isInitializeRequest(m),
    );
    if (initialize !== undefined) {
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
      this.log = this.options.events?.(this.sessionId);
      // Priming events have empty data, which clients before 2025-11-25 cannot handle (the SDK's
      // rule). The session's version decides, not each request's header: the client is the same.
      const version = isInitializeRequest(initialize) ? initialize.params.protocolVersion : '';
      this.priming = this.log !== undefined && version >= '2025-11-25';
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
    // A request id still waiting for its answer (in this POST or an earlier one of the session)
    // would take over that request's stream: the first POST would hang and its answer be lost.
    if (requestIds.some((id, i) => this.streamsByRequest.has(id) || requestIds.indexOf(id) !== i)) {
      replyError(res, 409, -32600, 'Invalid Request: a request id is already in use in this session');
      return;
    }
    const logical: LogicalStream = { no: ++this.lastStreamNo, seq: 0, pending: new Set(requestIds) };
    const prefix = this.priming ? this.primingEvent(logical.no) : '';
    const stream = new SseStream(res, this.sseHeaders(), Date.now(), this.timings, prefix);
    if (prefix !== '' && this.options.closeAfterMs !== undefined) {
      stream.closeAt = Date.now() + this.options.closeAfterMs;
    }
    for (const id of requestIds) this.streamsByRequest.set(id, logical);
    this.attach(logical.no, stream);
    for (const m of messages) this.onmessage?.(m, extra);
  }

  private primingEvent(no: number): string {
    const retry = this.options.retryMs === undefined ? '' : `retry: ${this.options.retryMs}\n`;
    return `id: ${formatEventId(this.sessionId ?? '', no, 0)}\n${retry}data: \n\n`;
  }

  /** Makes `stream` the connection of stream `no` (closing the one it replaces). */
  private attach(no: number, stream: SseStream): void {
    const before = this.connections.get(no);
    if (before !== undefined && before !== stream) {
      before.end();
      sweptStreams.delete(before);
    }
    this.connections.set(no, stream);
    watch(stream);
    stream.res.once('close', () => {
      if (this.connections.get(no) === stream) this.connections.delete(no);
      sweptStreams.delete(stream);
    });
  }

  private async handleGet(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!req.headers.accept?.includes('text/event-stream')) {
      replyError(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
      return;
    }
    if (!this.validSession(req, res) || !validProtocolVersion(req, res)) return;
    const lastEventId = req.headers['last-event-id'];
    if (this.log !== undefined && typeof lastEventId === 'string' && lastEventId !== '') {
      await this.resume(res, lastEventId, this.log);
      return;
    }
    if (this.standalone?.open === true) {
      replyError(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
      return;
    }
    const stream = new SseStream(res, this.sseHeaders(), Date.now(), this.timings);
    stream.flushHeaders();
    this.standalone = stream;
    watch(stream);
    res.once('close', () => {
      if (this.standalone === stream) this.standalone = undefined;
      sweptStreams.delete(stream);
    });
  }

  /**
   * GET with Last-Event-ID: the stored events after it on its stream, then the stream's live
   * messages; the response ends after the stream's last response. A stream whose last response
   * the client already has stays open, as in the SDK (its client reconnects otherwise).
   */
  private async resume(res: ServerResponse, lastEventId: string, log: SessionEventLog): Promise<void> {
    const id = parseEventId(lastEventId);
    if (id === undefined || id.sessionId !== this.sessionId) {
      replyError(res, 400, -32000, 'Invalid event ID format');
      return;
    }
    let resumed = 0;
    for (const c of this.connections.values()) if (c.resumed && c.open) resumed++;
    if (resumed >= (this.options.maxResumedStreams ?? 16)) {
      replyError(res, 429, -32000, 'Too many resumed streams for this session');
      return;
    }
    const stream = new SseStream(res, this.sseHeaders(), Date.now(), this.timings);
    stream.resumed = true;
    stream.delivered = id.seq;
    stream.held = [];
    if (id.stream === 0) {
      if (this.standalone !== undefined && this.standalone !== stream) this.standalone.end();
      this.standalone = stream;
      res.once('close', () => {
        if (this.standalone === stream) this.standalone = undefined;
      });
    }
    this.attach(id.stream, stream);
    stream.flushHeaders();
    let events: Awaited<ReturnType<SessionEventLog['eventsAfter']>> = [];
    try {
      events = await log.eventsAfter(id.stream, id.seq);
    } catch (error) {
      this.onerror?.(error as Error);
    }
    const held = stream.held;
    stream.held = undefined;
    const now = Date.now();
    for (const e of events) {
      stream.deliver(e.seq, sseEvent(e.data, formatEventId(this.sessionId, e.stream, e.seq)), e.final, now);
    }
    for (const e of held) stream.deliver(e.seq, e.text, e.final, now);
  }

  private async handleDelete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.validSession(req, res) || !validProtocolVersion(req, res)) return;
    res.writeHead(200).end();
    await this.log?.discard().catch(() => undefined);
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
    let logical: LogicalStream;
    let final = false;
    if (requestId === undefined) {
      if (isResponse) {
        throw new Error(
          'Cannot send a response on a standalone SSE stream unless resuming a previous client request',
        );
      }
      logical = this.standaloneStream;
    } else {
      const found = this.streamsByRequest.get(requestId);
      if (found === undefined) {
        if (this.closed) return;
        throw new Error(`No connection established for request ID: ${String(requestId)}`);
      }
      logical = found;
      if (isResponse) {
        this.streamsByRequest.delete(requestId);
        found.pending.delete(requestId);
        final = found.pending.size === 0;
      }
    }
    const data = JSON.stringify(message);
    const log = this.log;
    let seq = 0;
    let text: string;
    if (log === undefined || this.sessionId === undefined) {
      text = `event: message\ndata: ${data}\n\n`;
    } else {
      const next = ++logical.seq;
      let stored = log.append(logical.no, next, data, final);
      if (typeof stored !== 'boolean') stored = await stored;
      if (stored) seq = next;
      text = stored
        ? sseEvent(data, formatEventId(this.sessionId, logical.no, next))
        : `event: message\ndata: ${data}\n\n`;
    }
    const stream = logical.no === 0 ? this.standalone : this.connections.get(logical.no);
    if (stream === undefined) return;
    stream.deliver(seq, text, final, Date.now());
    if (final) {
      if (this.connections.get(logical.no) === stream) this.connections.delete(logical.no);
      sweptStreams.delete(stream);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.connections.values()) {
      stream.end();
      sweptStreams.delete(stream);
    }
    this.connections.clear();
    this.streamsByRequest.clear();
    if (this.standalone !== undefined) {
      this.standalone.end();
      sweptStreams.delete(this.standalone);
      this.standalone = undefined;
    }
    this.log?.release();
    this.onclose?.();
  }
}

function sseEvent(data: string, id: string): string {
  return `event: message\nid: ${id}\ndata: ${data}\n\n`;
}

/** Every message of a POST body (one or a batch), validated as the SDK validates them (json-rpc-message.ts). */
function parseMessages(body: unknown): JSONRPCMessage[] | undefined {
  const raw = Array.isArray(body) ? body : [body];
  const messages: JSONRPCMessage[] = [];
  for (const item of raw) {
    const message = asJsonRpcMessage(item);
    if (message === undefined) return undefined;
    messages.push(message);
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
