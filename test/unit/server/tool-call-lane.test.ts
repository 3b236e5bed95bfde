/**
 * The tools/call lane (issue 18): plain tools/call requests are answered without the SDK's
 * Protocol, so the lane itself must keep what the Protocol gave them: cancellation by
 * `notifications/cancelled` and by closing the transport (no response for a cancelled request),
 * the SDK's JSON-RPC error shape, ids that can be reused once answered. Requests the lane does not
 * take (progress tokens, tasks) and every other message still reach the SDK. `isPlainToolCall`
 * never accepts a message the SDK's own schema would refuse.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  JSONRPCMessageSchema,
  JSONRPCRequestSchema,
  McpError,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isPlainToolCall, toJsonRpcMessage } from '../../../src/server/json-rpc-message.js';
import { ToolCallLane, type ToolCallAnswer } from '../../../src/server/tool-call-lane.js';

interface Wire {
  readonly received: JSONRPCMessage[];
  send(message: unknown): Promise<void>;
  /** Resolves with the next message whose id is `id`. */
  response(id: string | number): Promise<JSONRPCMessage>;
  readonly server: Server;
  readonly client: InMemoryTransport;
}

const open: Wire[] = [];

async function connect(answer: ToolCallAnswer, sdkToolCall?: () => unknown): Promise<Wire> {
  const server = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
  if (sdkToolCall) server.setRequestHandler(CallToolRequestSchema, async () => sdkToolCall() as never);
  const [client, serverSide] = InMemoryTransport.createLinkedPair();
  const received: JSONRPCMessage[] = [];
  const waiting = new Map<string | number, (message: JSONRPCMessage) => void>();
  client.onmessage = (message) => {
    received.push(message);
    if ('id' in message && message.id !== undefined) waiting.get(message.id as string | number)?.(message);
  };
  await server.connect(new ToolCallLane(serverSide, answer));
  await client.start();
  const wire: Wire = {
    received,
    server,
    client,
    send: (message) => client.send(message as JSONRPCMessage),
    response: (id) => new Promise((resolve) => waiting.set(id, resolve)),
  };
  open.push(wire);
  return wire;
}

const call = (id: string | number, params: Record<string, unknown> = { name: 'x' }) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params,
});

afterEach(async () => {
  for (const wire of open.splice(0)) await wire.client.close();
});

describe('tools/call lane', () => {
  it('answers a plain tools/call with the handler result, passing the request id and session', async () => {
    const seen: unknown[] = [];
    const wire = await connect(async (request, exchange) => {
      seen.push({ params: request.params, requestId: exchange.requestId, aborted: exchange.signal.aborted });
      return { content: [{ type: 'text', text: 'ok' }] };
    });
    const answered = wire.response(7);
    await wire.send(call(7, { name: 'x', arguments: { a: 1 } }));
    expect(await answered).toEqual({
      jsonrpc: '2.0',
      id: 7,
      result: { content: [{ type: 'text', text: 'ok' }] },
    });
    expect(seen).toEqual([{ params: { name: 'x', arguments: { a: 1 } }, requestId: 7, aborted: false }]);
  });

  it('aborts the handler on notifications/cancelled and sends no response for it', async () => {
    let signal: AbortSignal | undefined;
    const wire = await connect(
      (_request, exchange) =>
        new Promise((resolve) => {
          signal = exchange.signal;
          exchange.signal.addEventListener('abort', () => resolve({ content: [] }));
        }),
    );
    await wire.send(call('c1'));
    await expect.poll(() => signal).toBeDefined();
    await wire.send({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 'c1', reason: 'user stopped it' },
    });
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe('user stopped it');
    // A later request is answered: had the cancelled one been answered, it would be there first.
    const pong = wire.response('p');
    await wire.send({ jsonrpc: '2.0', id: 'p', method: 'ping' });
    await pong;
    expect(wire.received.filter((m) => 'id' in m && m.id === 'c1')).toEqual([]);
  });

  it('aborts calls in flight when the transport closes', async () => {
    let signal: AbortSignal | undefined;
    const wire = await connect((_request, exchange) => {
      signal = exchange.signal;
      return new Promise(() => undefined);
    });
    await wire.send(call(1));
    await expect.poll(() => signal).toBeDefined();
    await wire.client.close();
    expect(signal?.aborted).toBe(true);
  });

  it("answers a handler's error as the SDK does", async () => {
    const errors: unknown[] = [
      new McpError(ErrorCode.InvalidParams, 'Unknown tool: y'),
      new Error('boom'),
      Object.assign(new Error('odd code'), { code: 'E_STRING' }),
      Object.assign(new Error('with data'), { code: -32001, data: { why: 'x' } }),
    ];
    let next = 0;
    const wire = await connect(async () => {
      throw errors[next++];
    });
    const answers: JSONRPCMessage[] = [];
    for (let id = 0; id < errors.length; id++) {
      const answered = wire.response(id);
      await wire.send(call(id));
      answers.push(await answered);
    }
    expect(answers.map((m) => ('error' in m ? m.error : m))).toEqual([
      { code: ErrorCode.InvalidParams, message: 'MCP error -32602: Unknown tool: y' },
      { code: ErrorCode.InternalError, message: 'boom' },
      { code: ErrorCode.InternalError, message: 'odd code' },
      { code: -32001, message: 'with data', data: { why: 'x' } },
    ]);
  });

  it('lets a client reuse an id once its call is answered, and keeps two calls with one id apart', async () => {
    const signals: AbortSignal[] = [];
    const wire = await connect(async (_request, exchange) => {
      signals.push(exchange.signal);
      return { content: [] };
    });
    for (let round = 0; round < 2; round++) {
      const answered = wire.response('same');
      await wire.send(call('same'));
      await answered;
    }
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => !s.aborted)).toBe(true);
  });

  it('leaves tools/call requests with a progress token or a task to the SDK, and other methods too', async () => {
    const lane: unknown[] = [];
    const sdk: unknown[] = [];
    const wire = await connect(
      async (request) => {
        lane.push(request.id);
        return { content: [] };
      },
      () => {
        sdk.push('sdk');
        return { content: [{ type: 'text', text: 'from the SDK' }] };
      },
    );
    const progress = wire.response('progress');
    await wire.send(call('progress', { name: 'x', _meta: { progressToken: 5 } }));
    expect(await progress).toMatchObject({ result: { content: [{ text: 'from the SDK' }] } });
    const listed = wire.response('list');
    await wire.send({ jsonrpc: '2.0', id: 'list', method: 'tools/list' });
    expect(await listed).toMatchObject({ id: 'list' });
    const plain = wire.response('plain');
    await wire.send(call('plain'));
    await plain;
    expect(lane).toEqual(['plain']);
    expect(sdk).toEqual(['sdk']);
  });
});

describe('isPlainToolCall', () => {
  const json = fc.jsonValue({ maxDepth: 3 });
  const nearlyToolCalls = fc.record(
    {
      jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('1.0'), json),
      id: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), json),
      method: fc.oneof(fc.constant('tools/call'), fc.string()),
      params: fc.oneof(
        fc.record(
          {
            name: fc.oneof(fc.string(), json),
            arguments: json,
            _meta: fc.oneof(
              fc.record({ progressToken: fc.oneof(fc.string(), fc.integer(), json) }, { requiredKeys: [] }),
              fc.dictionary(fc.string(), json),
              json,
            ),
            task: json,
          },
          { requiredKeys: [] },
        ),
        json,
      ),
      extra: json,
    },
    { requiredKeys: [] },
  );

  it('never accepts a message that the SDK schema refuses', () => {
    fc.assert(
      fc.property(nearlyToolCalls, (message) => {
        if (isPlainToolCall(message)) expect(JSONRPCRequestSchema.safeParse(message).success).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('gives every other message to the SDK schema unchanged', () => {
    fc.assert(
      fc.property(nearlyToolCalls, (message) => {
        if (isPlainToolCall(message)) return;
        const sdk = JSONRPCMessageSchema.safeParse(message);
        if (sdk.success) expect(toJsonRpcMessage(message)).toEqual(sdk.data);
        else expect(() => toJsonRpcMessage(message)).toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  it('takes the common shape and leaves task and related-task requests to the SDK', () => {
    expect(isPlainToolCall(call(1, { name: 'a', arguments: {}, _meta: { traceparent: 'x' } }))).toBe(true);
    expect(isPlainToolCall({ jsonrpc: '2.0', id: 1, method: 'tools/call' })).toBe(true);
    expect(isPlainToolCall(call(1, { name: 'a', task: { ttl: 1 } }))).toBe(false);
    expect(
      isPlainToolCall(
        call(1, { name: 'a', _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't' } } }),
      ),
    ).toBe(false);
    expect(isPlainToolCall({ ...call(1), extra: 1 })).toBe(false);
    expect(isPlainToolCall(call(1.5))).toBe(false);
  });
});
