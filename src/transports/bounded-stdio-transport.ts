/**
 * The stdio transport, with a per-message size bound that ends the message, not the server
 * (issue 14). The SDK's StdioServerTransport buffers a line until its newline and, past 10 MiB,
 * throws and closes the transport: one oversized message from a client ended the whole session.
 * Here an oversized line is skipped up to its newline and answered with JSON-RPC -32600
 * (id null: the id was inside the skipped bytes); the next line is served as usual.
 */
import process from 'node:process';
import type { Readable, Writable } from 'node:stream';
import { serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { toJsonRpcMessage } from '../server/json-rpc-message.js';

/** The SDK's own bound for one stdio message. */
export const MAX_STDIO_MESSAGE_BYTES = 10 * 1024 * 1024;

export class BoundedStdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private chunks: Buffer[] = [];
  private buffered = 0;
  /** True while skipping the rest of an oversized line. */
  private skipping = false;
  private started = false;

  constructor(
    private readonly stdin: Readable = process.stdin,
    private readonly stdout: Writable = process.stdout,
    private readonly maxMessageBytes: number = MAX_STDIO_MESSAGE_BYTES,
  ) {}

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
      // The common case, a whole line in one chunk, is decoded in place (no copy).
      const bytes = this.chunks.length === 0 ? head : Buffer.concat([...this.chunks, head]);
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
      this.chunks = [];
      this.buffered = 0;
      this.deliver(bytes.toString('utf8', 0, end));
    }
  };

  private readonly onstreamerror = (error: Error): void => {
    this.onerror?.(error);
  };

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
    let message: JSONRPCMessage;
    try {
      // The SDK's deserializeMessage, with plain tools/call requests checked directly.
      message = toJsonRpcMessage(JSON.parse(line));
    } catch (error) {
      // A blank line is skipped, not reported (checked only here: JSON.parse refuses it anyway).
      if (line.trim() === '') return;
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.onmessage?.(message);
  }

  start(): Promise<void> {
    if (this.started) throw new Error('BoundedStdioServerTransport already started');
    this.started = true;
    this.stdin.on('data', this.ondata);
    this.stdin.on('error', this.onstreamerror);
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    // Answers finished in the same tick leave in one writev (one syscall) instead of one write each.
    if (!this.corked) {
      this.corked = true;
      this.stdout.cork();
      process.nextTick(this.uncork);
    }
    return new Promise((resolve) => {
      if (this.stdout.write(serializeMessage(message))) resolve();
      else this.stdout.once('drain', resolve);
    });
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.stdout.uncork();
  };

  close(): Promise<void> {
    this.stdin.off('data', this.ondata);
    this.stdin.off('error', this.onstreamerror);
    if (this.stdin.listenerCount('data') === 0) this.stdin.pause();
    this.chunks = [];
    this.buffered = 0;
    this.onclose?.();
    return Promise.resolve();
  }
}
