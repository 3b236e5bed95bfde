/**
 * The stdio transport's message handling: lines in, messages out. Answers finished in one tick leave
 * in one write, in order (issue 18); an oversized line is refused without ending the session
 * (issue 14); a line that is not a JSON-RPC message is reported, not delivered.
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
    expect(stdout.writes.join('')).toContain('"code":-32600');
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
});
