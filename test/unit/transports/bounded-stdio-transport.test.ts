/**
 * The stdio transport's message handling: lines in, messages out. Answers finished in one tick leave
 * in one write, in order (issue 18); an oversized line is refused without ending the session
 * (issue 14); a line that is not a JSON-RPC message is answered and reported, not delivered; a full
 * stdout pauses stdin; a failed stdout ends the session (security review).
 */
import { PassThrough, Writable } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { BoundedStdioServerTransport } from '../../../src/transports/bounded-stdio-transport.js';

/** A stdout that records each write it gets from the stream machinery (one entry per syscall). */
class RecordingStdout extends Writable {
  readonly writes: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.writes.push(chunk.toString());
    done();
  }
  override _writev(chunks: { chunk: Buffer }[], done: () => void): void {
    this.writes.push(chunks.map((c) => c.chunk.toString()).join(''));
    done();
  }
}

const answer = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, result: {} });
const tick = () => new Promise((resolve) => setImmediate(resolve));
const answers = (stdout: RecordingStdout): unknown[] =>
  stdout.writes
    .join('')
    .trimEnd()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);

/** A stdout that takes nothing until `flow()`: its buffer fills past the high-water mark. */
class StuckStdout extends Writable {
  private pending: (() => void)[] = [];
  private flowing = false;
  constructor() {
    super({ highWaterMark: 64 });
  }
  override _write(_chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (this.flowing) done();
    else this.pending.push(done);
  }
  flow(): void {
    this.flowing = true;
    for (const done of this.pending.splice(0)) done();
  }
}

async function started(maxBytes?: number) {
  const stdin = new PassThrough();
  const stdout = new RecordingStdout();
  const transport = new BoundedStdioServerTransport(stdin, stdout, maxBytes);
  const delivered: JSONRPCMessage[] = [];
  const errors: Error[] = [];
  transport.onmessage = (m) => delivered.push(m);
  transport.onerror = (e) => errors.push(e);
  await transport.start();
  return { stdin, stdout, transport, delivered, errors };
}

describe('BoundedStdioServerTransport', () => {
  it('writes the answers of one tick in one write, in order', async () => {
    const { stdout, transport } = await started();
    await Promise.all([transport.send(answer(1)), transport.send(answer(2)), transport.send(answer(3))]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stdout.writes).toHaveLength(1);
    expect(
      stdout.writes[0]!.trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { id: number }).id),
    ).toEqual([1, 2, 3]);
    await transport.send(answer(4));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stdout.writes).toHaveLength(2);
  });

  it('delivers requests, refuses an oversized line and reports a line that is not JSON-RPC', async () => {
    const { stdin, stdout, delivered, errors } = await started(200);
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: {} } };
    stdin.write(`${JSON.stringify(call)}\n`);
    stdin.write(`${'x'.repeat(300)}\n`);
    stdin.write('{"jsonrpc":"2.0","id":2,"method":"tools/call","extra":true}\n');
    stdin.write('{"jsonrpc":"2.0","id":3,"method":"ping"}\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(delivered).toEqual([call, { jsonrpc: '2.0', id: 3, method: 'ping' }]);
    expect(errors).toHaveLength(1);
    expect(answers(stdout)).toEqual([
      {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: 'Invalid Request: message over 200 bytes; ignored' },
      },
      {
        jsonrpc: '2.0',
        id: 2,
        error: {
          code: -32600,
          message: 'Invalid Request: a request may hold only "jsonrpc", "id", "method" and "params"',
        },
      },
    ]);
  });

  it('takes CRLF line ends, skips blank lines and joins a line split across chunks (even inside a character)', async () => {
    const { stdin, delivered, errors } = await started();
    const ping = (id: number, note = '') => ({ jsonrpc: '2.0', id, method: 'ping', params: { note } });
    stdin.write(`${JSON.stringify(ping(1))}\r\n\n  \r\n`);
    const split = Buffer.from(`${JSON.stringify(ping(2, 'é€'))}\n`, 'utf8');
    const cut = split.indexOf(Buffer.from('€', 'utf8')) + 1; // inside the 3-byte character
    stdin.write(split.subarray(0, cut));
    await new Promise((resolve) => setImmediate(resolve));
    stdin.write(split.subarray(cut));
    await new Promise((resolve) => setImmediate(resolve));
    expect(delivered).toEqual([ping(1), ping(2, 'é€')]);
    expect(errors).toEqual([]);
  });

  it('answers each line that is not a message: -32700 for JSON, -32600 for JSON-RPC, ids echoed only when valid', async () => {
    const { stdin, stdout, delivered, errors } = await started();
    const lines = [
      '{"jsonrpc":"2.0","id":{"secret":"sk_pasted"},"method":"ping"}',
      '{"jsonrpc":"2.0","id":"a","method":"ping","params":[]}',
      '{"id":4,"method":"ping"}',
      '[{"jsonrpc":"2.0","id":5,"method":"ping"}]',
      '{"jsonrpc":"2.0","id":6,"method":"ping"\u0000',
      '{"jsonrpc":"2.0","id":7,"method":"ping","sk_pasted"}',
      '{"jsonrpc":"2.0","id":8,"result":5}',
    ];
    stdin.write(lines.map((line) => `${line}\n`).join(''));
    await tick();
    expect(delivered).toEqual([]);
    expect(answers(stdout)).toEqual([
      {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32600,
          message: 'Invalid Request: member "id" must be a string or a safe integer, not an object',
        },
      },
      {
        jsonrpc: '2.0',
        id: 'a',
        error: { code: -32600, message: 'Invalid Request: member "params" must be an object, not an array' },
      },
      {
        jsonrpc: '2.0',
        id: 4,
        error: { code: -32600, message: 'Invalid Request: member "jsonrpc" must be "2.0"' },
      },
      {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32600,
          message: 'Invalid Request: batches (JSON arrays) are not supported; send one message per line',
        },
      },
      {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32700,
          message: 'Parse error: the line is not valid JSON (it holds a NUL character)',
        },
      },
      {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32700,
          message: 'Parse error: the line is not valid JSON' /* V8's own message quotes the line */,
        },
      },
      {
        jsonrpc: '2.0',
        id: 8,
        error: { code: -32600, message: 'Invalid Request: member "result" must be an object, not a number' },
      },
    ]);
    expect(errors.map((e) => e.message)).toHaveLength(lines.length);
    expect(JSON.stringify(errors.map((e) => e.message))).not.toContain('sk_pasted');
    expect(stdout.writes.join('')).not.toContain('sk_pasted');
  });

  it('ignores a leading byte order mark, and serves a last line without newline when stdin ends', async () => {
    const { stdin, transport, delivered, errors } = await started();
    stdin.write('\uFEFF{"jsonrpc":"2.0","id":1,"method":"ping"}\n{"jsonrpc":"2.0","id":2,"method":"ping"}');
    await tick();
    expect(delivered).toEqual([{ jsonrpc: '2.0', id: 1, method: 'ping' }]);
    stdin.end();
    expect(await transport.ended).toBe('stdin closed');
    expect(delivered).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ]);
    expect(errors).toEqual([]);
  });

  it('pauses stdin while stdout is full, with one shared drain listener, and resumes when it drains', async () => {
    const stdin = new PassThrough();
    const stdout = new StuckStdout();
    const transport = new BoundedStdioServerTransport(stdin, stdout);
    await transport.start();
    let settled = 0;
    const sends = Array.from({ length: 50 }, (_, i) => transport.send(answer(i)).then(() => settled++));
    await tick();
    expect(stdin.isPaused()).toBe(true);
    expect(stdout.listenerCount('drain')).toBe(1);
    expect(settled).toBeLessThan(50); // those that found room settled at once
    stdout.flow();
    await Promise.all(sends);
    expect(settled).toBe(50);
    expect(stdin.isPaused()).toBe(false);
    expect(stdout.listenerCount('drain')).toBe(0);
  });

  it('a stdout that fails (EPIPE) ends the session: reading stops, sends settle, nothing more is written', async () => {
    const stdin = new PassThrough();
    const stdout = new StuckStdout();
    const transport = new BoundedStdioServerTransport(stdin, stdout);
    const errors: Error[] = [];
    transport.onerror = (e) => errors.push(e);
    await transport.start();
    const pending = transport.send(answer(1));
    await tick();
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    stdout.emit('error', epipe);
    stdout.emit('error', epipe); // process.stdout emits it again at every later write
    expect(await transport.ended).toBe('stdout closed');
    await pending;
    await transport.send(answer(2));
    expect(stdin.listenerCount('data')).toBe(0);
    expect(transport.outputOpen).toBe(false);
    expect(errors.map((e) => e.message)).toEqual(['stdout closed (EPIPE)']);
  });
});
