/**
 * Arguments stay inside their types (issue 12 §6), over the real stdio transport with raw JSON-RPC
 * lines (an SDK client would refuse to send these): `1e400` is Infinity after JSON.parse and was
 * forwarded upstream as `null`; non-object `arguments` got -32603 with a validator dump.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { mainJs, makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kwtypes_' + 'Qm3Vn7Bx1Lz5Kp9Wr2Ty6';
let upstream: Upstream;
let configPath: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  ({ configPath } = await makeWorkspace((d) => coreConfig(d, upstream.origin), { api: KEY }));
});
afterAll(() => upstream?.close());

/** Sends raw lines after initialize and returns the answers by id. */
async function exchange(
  lines: string[],
  orphans: Record<string, unknown>[] = [],
): Promise<Map<number, Record<string, unknown>>> {
  const child = spawn(process.execPath, [mainJs, 'serve', '--config', configPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const answers = new Map<number, Record<string, unknown>>();
  let buffer = '';
  // every line is answered by id, except oversized ones (answered with id null)
  const want = lines.filter((l) => l.length < 10 * 1024 * 1024).length + 1;
  const done = new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const message = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        if (typeof message.id === 'number') answers.set(message.id, message);
        else orphans.push(message);
        if (answers.size >= want) resolve();
      }
    });
  });
  child.stdin.write(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    }) + '\n',
  );
  child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  for (const line of lines) child.stdin.write(line + '\n');
  await done;
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  return answers;
}

describe('one oversized stdio message (issue 14)', () => {
  it('answers -32600 and the server goes on serving the next message', async () => {
    const orphans: Record<string, unknown>[] = [];
    const huge = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_repo","arguments":{"owner":"${'x'.repeat(11 * 1024 * 1024)}"}}}`;
    const answers = await exchange(
      [
        huge,
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_repo","arguments":{"owner":"a","repo":"b"}}}',
      ],
      orphans,
    );
    expect(orphans).toContainEqual(
      expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) as unknown }),
    );
    expect(answers.has(1)).toBe(false);
    expect((answers.get(2)?.result as { isError?: boolean }).isError).toBeFalsy();
  });
});

describe('a hostile upstream body over stdio', () => {
  it('a 200,000-level JSON body is answered as text, not a call that never returns (issue 12 §6)', async () => {
    const answers = await exchange([
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deep_json"}}',
    ]);
    const result = answers.get(1)?.result as { isError?: boolean; structuredContent: { body: unknown } };
    expect(result.isError).toBeFalsy();
    expect(typeof result.structuredContent.body).toBe('string');
  });
});

describe('argument types over stdio', () => {
  it('non-finite numbers are invalid_arguments, never forwarded as null', async () => {
    const before = upstream.requests.length;
    const answers = await exchange([
      // create_any takes any arguments: before, `n` reached the upstream as `null`
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_any","arguments":{"name":"x","n":1e400}}}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_any","arguments":{"deep":[{"x":-1e400}]}}}',
    ]);
    for (const id of [1, 2]) {
      const result = answers.get(id)?.result as {
        isError: boolean;
        structuredContent: { error: { code: string; message: string } };
      };
      expect(result.isError).toBe(true);
      expect(result.structuredContent.error.code).toBe('invalid_arguments');
      expect(result.structuredContent.error.message).toMatch(/not a finite number/);
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('non-object arguments answer JSON-RPC -32602 in one line', async () => {
    const answers = await exchange([
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_repo","arguments":"owner=a"}}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_repo","arguments":[1,2]}}',
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_repo","arguments":null}}',
    ]);
    for (const id of [1, 2, 3]) {
      const error = answers.get(id)?.error as { code: number; message: string };
      expect(error.code).toBe(-32602);
      expect(error.message).toMatch(/arguments must be a JSON object/);
      expect(error.message).not.toContain('\n');
    }
  });
});
