/**
 * The stdio transport, with a per-message size bound that ends the message, not the server
 * (issue 14). The SDK's StdioServerTransport buffers a line until its newline and, past 10 MiB,
 * throws and closes the transport: one oversized message from a client ended the whole session.
 * Here an oversized line is skipped up to its newline and answered with JSON-RPC -32600
 * (id null: the id was inside the skipped bytes); the next line is served as usual.
 *
 * What a hostile or broken client can do to the pipes, and what happens (security review):
 * - a line that is not JSON is answered -32700, JSON that is not a JSON-RPC message -32600
 *   (json-rpc-refusal.ts), so the client never waits on a request it thinks it sent; a leading
 *   byte order mark is ignored (RFC 8259 §8.1 allows it); a last line without a newline is served
 *   when stdin ends, like any other line;
 * - a client that stops reading stdout: once stdout holds more than its high-water mark, stdin is
 *   paused (no new requests are read, so none are started and no answers pile up) until stdout
 *   drains; all waiting sends share one 'drain' listener;
 * - a client that closes its end of stdout: the write error (EPIPE) is the end of the session,
 *   as stdin's end is: reading stops, pending and later sends settle without writing, and `ended`
 *   resolves so the server drains its calls (their call.completed recorded) and exits normally.
 */
import process from 'node:process';
import type { Readable, Writable } from 'node:stream';
import { serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { asJsonRpcMessage } from '../server/json-rpc-message.js';
import {
  invalidRequestRefusal,
  parseErrorRefusal,
  refusalMessage,
  type Refusal,
} from './json-rpc-refusal.js';

/** The SDK's own bound for one stdio message. */
export const MAX_STDIO_MESSAGE_BYTES = 10 * 1024 * 1024;

/** Why a stdio session ended from the client's side. */
export type StdioEnd = 'stdin closed' | 'stdout closed';

const BYTE_ORDER_MARK = 0xfeff;

export class BoundedStdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** Resolves when stdin ends (its last line delivered) or stdout can no longer be written. */
  readonly ended: Promise<StdioEnd>;
  private markEnded!: (reason: StdioEnd) => void;

  private chunks: Buffer[] = [];
  private buffered = 0;
  /** True while skipping the rest of an oversized line. */
  private skipping = false;
  private started = false;
  /** True from start until close, stdin's end or the loss of stdout. */
  private reading = false;
  /** Set when a write to stdout failed: the client is not listening any more. */
  private outputLost = false;
  /** The one wait for 'drain' every send that found stdout full shares. */
  private drained: Promise<void> | undefined;
  private releaseDrained: (() => void) | undefined;

  constructor(
    private readonly stdin: Readable = process.stdin,
    private readonly stdout: Writable = process.stdout,
    private readonly maxMessageBytes: number = MAX_STDIO_MESSAGE_BYTES,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  /** False once a write to stdout failed: nothing more reaches the client. */
  get outputOpen(): boolean {
    return !this.outputLost;
  }

  private readonly ondata = (chunk: Buffer): void => {
    let rest = chunk;
    while (rest.length > 0) {
      const newline = rest.indexOf(0x0a);
      if (newline === -1) {
        if (!this.skipping) {
          this.chunks.push(rest);
          this.buffered += rest.length;
          if (this.buffered > this.maxMessageBytes) this.startSkipping();
        }
        return;
      }
      const head = rest.subarray(0, newline);
      rest = rest.subarray(newline + 1);
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      if (this.buffered + head.length > this.maxMessageBytes) {
        this.chunks = [];
        this.buffered = 0;
        this.reject();
        continue;
      }
      this.deliverLine(head);
    }
  };

  /** stdin's end: a last line without its newline is still a line (a client that wrote and closed). */
  private readonly onend = (): void => {
    if (!this.skipping && this.buffered > 0) this.deliverLine(Buffer.alloc(0));
    this.stopReading();
    this.markEnded('stdin closed');
  };

  private readonly onstreamerror = (error: Error): void => {
    this.onerror?.(error);
  };

  /**
   * A write to stdout failed (EPIPE when the client closed its end, or any other error). Node's
   * process.stdout is never destroyed and emits the error again at every later write, so nothing is
   * written from here on and this listener stays on after close.
   */
  private readonly onoutputerror = (error: Error): void => {
    if (this.outputLost) return;
    this.outputLost = true;
    this.stopReading();
    this.releaseSends();
    this.onerror?.(new Error(`stdout closed (${(error as NodeJS.ErrnoException).code ?? error.name})`));
    this.markEnded('stdout closed');
  };

  private readonly ondrain = (): void => {
    if (this.reading) this.stdin.resume();
    this.releaseSends();
  };

  /** The buffered chunks plus `head` as one line, without its CR. */
  private deliverLine(head: Buffer): void {
    // The common case, a whole line in one chunk, is decoded in place (no copy).
    const bytes = this.chunks.length === 0 ? head : Buffer.concat([...this.chunks, head]);
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    this.chunks = [];
    this.buffered = 0;
    this.deliver(bytes.toString('utf8', 0, end));
  }

  private startSkipping(): void {
    this.chunks = [];
    this.buffered = 0;
    this.skipping = true;
    this.reject();
  }

  private reject(): void {
    void this.send({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32600,
        message: `Invalid Request: message over ${this.maxMessageBytes} bytes; ignored`,
      },
    } as unknown as JSONRPCMessage);
  }

  private deliver(line: string): void {
    const parsed = parseLine(line);
    if (parsed === undefined) return;
    if ('code' in parsed) return this.refuse(parsed);
    // The SDK's deserializeMessage, with plain tools/call requests checked directly.
    const message = asJsonRpcMessage(parsed.value);
    if (message === undefined) return this.refuse(invalidRequestRefusal(parsed.value));
    this.onmessage?.(message);
  }

  /** Answers a line that carries no message, and reports it (its reason only, never the line). */
  private refuse(refusal: Refusal): void {
    void this.send(refusalMessage(refusal));
    this.onerror?.(new Error(refusal.message));
  }

  start(): Promise<void> {
    if (this.started) throw new Error('BoundedStdioServerTransport already started');
    this.started = true;
    this.reading = true;
    this.stdin.on('data', this.ondata);
    this.stdin.on('end', this.onend);
    this.stdin.on('error', this.onstreamerror);
    this.stdout.on('error', this.onoutputerror);
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    // The client is gone: the answer has nowhere to go, and the call it belongs to still finishes.
    if (this.outputLost) return Promise.resolve();
    // Answers finished in the same tick leave in one writev (one syscall) instead of one write each.
    if (!this.corked) {
      this.corked = true;
      this.stdout.cork();
      process.nextTick(this.uncork);
    }
    if (this.stdout.write(serializeMessage(message))) return Promise.resolve();
    return this.waitForDrain();
  }

  /**
   * stdout holds more than its high-water mark: the client is slower than the answers (or not
   * reading at all). Reading stops until it drains, so requests wait in the client's pipe instead
   * of as started calls and buffered answers in this process.
   */
  private waitForDrain(): Promise<void> {
    if (this.drained === undefined) {
      this.stdin.pause();
      this.drained = new Promise((resolve) => (this.releaseDrained = resolve));
      this.stdout.once('drain', this.ondrain);
    }
    return this.drained;
  }

  private releaseSends(): void {
    const release = this.releaseDrained;
    this.drained = undefined;
    this.releaseDrained = undefined;
    this.stdout.off('drain', this.ondrain);
    release?.();
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.stdout.uncork();
  };

  private stopReading(): void {
    this.reading = false;
    this.stdin.off('data', this.ondata);
    this.stdin.off('end', this.onend);
    if (this.stdin.listenerCount('data') === 0) this.stdin.pause();
    this.chunks = [];
    this.buffered = 0;
  }

  close(): Promise<void> {
    this.stopReading();
    this.stdin.off('error', this.onstreamerror);
    this.releaseSends();
    this.onclose?.();
    return Promise.resolve();
  }
}

/** A line as JSON, a parse error to answer, or undefined for a blank line (skipped, not answered). */
function parseLine(line: string): { value: unknown } | Refusal | undefined {
  try {
    return { value: JSON.parse(line) };
  } catch {
    // Checked only here, off the common path: JSON.parse refuses both anyway.
    if (line.trim() === '') return undefined;
    if (line.charCodeAt(0) === BYTE_ORDER_MARK) {
      try {
        return { value: JSON.parse(line.slice(1)) };
      } catch {
        // answered below, as the line it is
      }
    }
    return parseErrorRefusal(line);
  }
}
