/**
 * What a hostile client can write to keyward's stdin, and read (or not) from its stdout, beyond what
 * an SDK client would ever send (security review): every line gets an answer, deep arguments are
 * refused and audited as invalid, and a client that stops reading stops keyward reading.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { auditRecords, makeWorkspace, rawStdio, toolCallLine } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_raw_lines_test_key_0123456789abcdef';
/** Stands for a secret an agent pasted into a broken line: it must reach neither stdout nor stderr. */
const PASTED = 'sk_live_pasted_4e1b9c0d7a2f';
let upstream: Upstream;
let configPath: string;
let dir: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  // The backpressure test starts 6,000 calls; it is about stdout, not the in-flight cap
  // (stdio-in-flight.test.ts), so the cap is out of its way.
  ({ configPath, dir } = await makeWorkspace(
    (d) => ({ ...coreConfig(d, upstream.origin), server: { stdio: { maxInFlight: 10_000 } } }),
    { api: KEY },
  ));
});

afterAll(async () => {
  await upstream?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('lines that are not JSON-RPC messages', () => {
  it('each gets its JSON-RPC error (-32700 or -32600), naming what is wrong without quoting the line', async () => {
    const server = await rawStdio(configPath);
    const cases: [line: string | Buffer, id: unknown, code: number, says: RegExp][] = [
      [`{"jsonrpc":"2.0","id":{"k":"${PASTED}"},"method":"tools/call"}`, null, -32600, /"id" must be/],
      ['{"jsonrpc":"2.0","id":true,"method":"ping"}', null, -32600, /not a boolean/],
      ['{"jsonrpc":"2.0","id":1.5,"method":"ping"}', null, -32600, /safe integer/],
      ['{"id":"no-version","method":"ping"}', 'no-version', -32600, /"jsonrpc" must be "2.0"/],
      [`{"jsonrpc":"2.0","id":"extra","method":"ping","x":"${PASTED}"}`, 'extra', -32600, /may hold only/],
      ['{"jsonrpc":"2.0","id":7,"method":"tools/call","params":["get_repo"]}', 7, -32600, /not an array/],
      ['{"jsonrpc":"2.0","id":8,"method":"tools/call","params":null}', 8, -32600, /"params" must be/],
      [`[{"jsonrpc":"2.0","id":9,"method":"ping"}]`, null, -32600, /batches/],
      ['"just a string"', null, -32600, /must be a JSON object, not a string/],
      [`{"jsonrpc":"2.0","id":10,"method":"ping","params":{"s":"${PASTED}"`, null, -32700, /not valid JSON/],
      [
        Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":11,"method":"ping"}'), Buffer.from([0])]),
        null,
        -32700,
        /NUL/,
      ],
    ];
    for (const [line] of cases) server.send(Buffer.concat([Buffer.from(line), Buffer.from('\n')]));
    // A byte order mark before a message is ignored (RFC 8259 §8.1): the call is served.
    server.send(`\uFEFF${toolCallLine('bom', 'get_repo', { owner: 'a', repo: 'b' })}`);
    // The sentinel: once it is answered, every line before it has been read.
    server.send('{"jsonrpc":"2.0","id":"last","method":"ping"}\n');
    await server.waitFor((m) => m.id === 'last');
    await server.waitFor((m) => m.id === 'bom');

    const errors = server.messages().filter((m) => 'error' in m);
    expect(errors).toHaveLength(cases.length);
    cases.forEach(([, id, code, says], i) => {
      const answer = errors[i] as { id: unknown; error: { code: number; message: string } };
      expect(answer.id, `case ${i}`).toEqual(id);
      expect(answer.error.code, `case ${i}`).toBe(code);
      expect(answer.error.message, `case ${i}`).toMatch(says);
    });
    expect(server.messages().find((m) => m.id === 'bom')).toHaveProperty(
      'result.structuredContent.status',
      200,
    );

    // One warn line per refusal on stderr, all of it JSON, none of it the line.
    const logs = server
      .stderr()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: string });
    expect(logs.filter((l) => l.level === 40 && l.msg === 'mcp session error')).toHaveLength(cases.length);
    expect(server.stderr()).not.toContain(PASTED);
    expect(JSON.stringify(server.messages())).not.toContain(PASTED);
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
  });

  it('serves a last line that has no newline when stdin ends', async () => {
    const server = await rawStdio(configPath);
    server.send(toolCallLine('tail', 'get_repo', { owner: 'a', repo: 'b' }).trimEnd());
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
    expect(server.messages().find((m) => m.id === 'tail')).toHaveProperty(
      'result.structuredContent.status',
      200,
    );
  });
});

describe('deeply nested arguments', () => {
  it('5,000 levels (10 KB) are invalid_arguments, audited as decision "invalid"', async () => {
    const server = await rawStdio(configPath);
    const depth = 5000;
    server.send(
      `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"create_any","arguments":{"n":${'['.repeat(depth)}${']'.repeat(depth)}}}}\n`,
    );
    const answer = (await server.waitFor((m) => m.id === 'deep')) as {
      result: { isError: boolean; structuredContent: { error: { code: string; message: string } } };
    };
    expect(answer.result.isError).toBe(true);
    expect(answer.result.structuredContent.error.code).toBe('invalid_arguments');
    expect(answer.result.structuredContent.error.message).toBe('arguments nest deeper than 256 levels');
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
    const rejected = (await auditRecords(`${dir}/audit.db`)).filter(
      (r) => r.type === 'call.rejected' && r.tool === 'create_any',
    );
    expect(rejected.at(-1)).toMatchObject({ decision: 'invalid', errorCode: 'invalid_arguments' });
  });
});

describe('a client that does not read stdout', () => {
  it('stops keyward reading stdin until it reads again; then every answer arrives', async () => {
    const server = await rawStdio(configPath);
    const before = upstream.requests.length;
    const startedCalls = () => upstream.requests.length - before;
    /** Waits until keyward stops starting calls (the count holds still for a second). */
    const settled = async (): Promise<number> => {
      let count = -1;
      for (let still = 0; still < 5;) {
        await sleep(200);
        still = startedCalls() === count ? still + 1 : 0;
        count = startedCalls();
      }
      return count;
    };
    const write = (from: number, to: number): void => {
      let batch = '';
      for (let id = from; id <= to; id++)
        batch += toolCallLine(id, 'get_repo', { owner: 'o', repo: `r${id}` });
      server.child.stdin.write(batch);
    };
    server.child.stdout.pause();
    // 2,000 answers (~900 KB) are more than the pipe and stdout's buffer hold: keyward pauses stdin.
    write(1, 2000);
    const first = await settled();
    // Read before, these were all read and started too, their answers piling up in keyward's memory.
    write(2001, 6000);
    const second = (await settled()) - first;
    expect(second).toBeLessThan(2000);
    expect(server.child.stdin.writableLength).toBeGreaterThan(0); // the rest waits in the client

    server.child.stdout.resume();
    await server.waitFor((m) => m.id === 6000, 60_000);
    const answered = new Set(server.messages().map((m) => m.id));
    for (let id = 1; id <= 6000; id++) expect(answered.has(id)).toBe(true);
    expect(startedCalls()).toBe(6000);
    expect(server.stderr()).not.toContain('MaxListenersExceededWarning');
    for (const line of server.stderr().trim().split('\n'))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
  }, 120_000);
});
