/**
 * Resumable streams of keyward's Streamable HTTP transport with a memory event store, over real
 * sockets on 127.0.0.1: the priming event (id, retry, empty data) goes out first and in the same
 * single write as a call's only result; a client whose POST stream was cut gets what it missed
 * with GET + Last-Event-ID (the call already over, or still running), only what followed its last
 * event, never another session's; old protocol versions get ids but no priming; DELETE discards.
 * Then the SDK client, whose connection is cut mid-call, reconnects by itself and gets the result.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { systemClock } from '../../../src/core/clock.js';
import { MemoryEventStore } from '../../../src/transports/event-store/memory-event-store.js';
import { NodeStreamableHttpTransport } from '../../../src/transports/node-streamable-transport.js';

const store = new MemoryEventStore({
  clock: systemClock,
  ttlMs: 60_000,
  maxSessionBytes: 1024 * 1024,
  maxBytes: 8 * 1024 * 1024,
});
const owner = { subjectHash: '0'.repeat(64), agent: 'a', tenant: 't' };
const sessions = new Map<string, NodeStreamableHttpTransport>();
let httpServer: Server;
let url: string;
/** closeAfterMs of the next session's transport. */
let closeAfterMs: number | undefined;

function buildServer(): McpServer {
  const server = new McpServer({ name: 'resume-test', version: '0.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: 1, total: 2 },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { content: [{ type: 'text', text: `slept ${ms}` }] };
  });
  return server;
}

beforeAll(async () => {
  httpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body: unknown = text === '' ? undefined : JSON.parse(text);
      void route(req, res, body);
    });
  });
  const route = async (
    req: Parameters<NodeStreamableHttpTransport['handleRequest']>[0],
    res: Parameters<NodeStreamableHttpTransport['handleRequest']>[1],
    body: unknown,
  ): Promise<void> => {
    const sid = req.headers['mcp-session-id'];
    const found = sessions.get(typeof sid === 'string' ? sid : '');
    if (found !== undefined) {
      await found.handleRequest(req, res, body);
      return;
    }
    if (sid !== undefined) {
      res.writeHead(404).end();
      return;
    }
    const server = buildServer();
    const transport: NodeStreamableHttpTransport = new NodeStreamableHttpTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, transport),
      events: (id) => store.openSession(id, owner),
      retryMs: 300,
      ...(closeAfterMs === undefined ? {} : { closeAfterMs }),
      headerFlushMs: 200,
      keepAliveMs: 300,
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  for (const t of sessions.values()) await t.close();
  httpServer.closeAllConnections();
  await new Promise((resolve) => httpServer.close(resolve));
});

interface SseEvent {
  id?: string;
  retry?: string;
  data: string;
}

function parseSse(body: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of body.split('\n\n')) {
    if (block.trim() === '' || block.startsWith(':')) continue;
    const event: SseEvent = { data: '' };
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 2);
      if (field === 'id') event.id = value;
      else if (field === 'retry') event.retry = value;
      else if (field === 'data') event.data += value;
    }
    out.push(event);
  }
  return out;
}

interface Open {
  status: number;
  headers: IncomingHttpHeaders;
  text: () => string;
  /** Resolves once the body so far satisfies `test`. */
  until: (test: (body: string) => boolean, ms?: number) => Promise<string>;
  ended: Promise<string>;
  /** Cuts the connection (a client that went away). */
  cut: () => void;
}

/** Sends a request and resolves at its response headers; the body keeps arriving. */
function open(method: string, body: unknown, headers: Record<string, string> = {}): Promise<Open> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        headers: {
          Accept: 'application/json, text/event-stream',
          ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        const waiters: (() => void)[] = [];
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          for (const w of waiters.splice(0)) w();
        });
        const ended = new Promise<string>((done) => {
          res.on('end', () => done(text));
          res.on('close', () => done(text));
        });
        res.on('error', () => undefined);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: () => text,
          ended,
          until: (test, ms = 5_000) =>
            new Promise<string>((ok, fail) => {
              const deadline = setTimeout(() => fail(new Error(`timed out; got: ${text}`)), ms);
              const check = (): void => {
                if (test(text)) {
                  clearTimeout(deadline);
                  ok(text);
                } else waiters.push(check);
              };
              check();
            }),
          cut: () => req.destroy(),
        });
      },
    );
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end(payload);
  });
}

async function session(protocolVersion = '2025-11-25'): Promise<Record<string, string>> {
  const init = await open('POST', {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
  });
  await init.ended;
  const sid = String(init.headers['mcp-session-id']);
  const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': protocolVersion };
  await (
    await open('POST', { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)
  ).ended;
  return headers;
}

const call = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});

describe('resumable streams (memory event store)', () => {
  it('opens a POST stream with a priming event (id, retry, empty data), in one write with the result', async () => {
    const headers = await session();
    const sid = headers['mcp-session-id']!;
    const res = await open('POST', call(1, 'echo', { text: 'hi' }), headers);
    const body = await res.ended;
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    const events = parseSse(body);
    expect(events[0]).toEqual({
      id: expect.stringMatching(new RegExp(`^${sid}\\.\\d+\\.0$`)),
      retry: '300',
      data: '',
    });
    const stream = events[0]!.id!.split('.')[1];
    expect(events[1]!.id).toBe(`${sid}.${stream}.1`);
    expect(JSON.parse(events[1]!.data)).toMatchObject({ id: 1, result: { content: [{ text: 'hi' }] } });
  });

  it('replays the result of a call that ended while its client was away (GET + Last-Event-ID)', async () => {
    const headers = await session();
    const res = await open('POST', call(2, 'slow', { ms: 1_300 }), headers);
    const primed = parseSse(await res.until((b) => b.includes('\n\n')))[0]!;
    expect(primed.data).toBe('');
    expect(res.text()).not.toContain('slept');
    res.cut();
    await new Promise((r) => setTimeout(r, 1_500));
    const resumed = await open('GET', undefined, {
      ...headers,
      Accept: 'text/event-stream',
      'last-event-id': primed.id!,
    });
    expect(resumed.status).toBe(200);
    expect(resumed.headers['content-type']).toBe('text/event-stream');
    const events = parseSse(await resumed.ended);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data)).toMatchObject({
      id: 2,
      result: { content: [{ text: 'slept 1300' }] },
    });
  });

  it('carries a call still running when the client comes back, and only what followed its last event', async () => {
    const headers = await session();
    const res = await open('POST', call(3, 'slow', { ms: 600 }, { progressToken: 'p' }), headers);
    const seen = parseSse(await res.until((b) => b.includes('notifications/progress')));
    expect(seen.map((e) => e.data === '')).toEqual([true, false]);
    res.cut();
    const resumed = await open('GET', undefined, {
      ...headers,
      Accept: 'text/event-stream',
      'last-event-id': seen[1]!.id!,
    });
    const events = parseSse(await resumed.ended);
    expect(events.map((e) => (JSON.parse(e.data) as { id?: number }).id)).toEqual([3]);
    expect(events[0]!.id).toBe(seen[1]!.id!.replace(/\.1$/, '.2'));
  });

  it('refuses an event id that is not this session’s (400) and a session it does not know (404)', async () => {
    const a = await session();
    const b = await session();
    const res = await open('POST', call(4, 'echo', { text: 'mine' }), a);
    const id = parseSse(await res.ended)[1]!.id!;
    const foreign = await open('GET', undefined, { ...b, Accept: 'text/event-stream', 'last-event-id': id });
    expect(foreign.status).toBe(400);
    expect(await foreign.ended).not.toContain('mine');
    const garbage = await open('GET', undefined, {
      ...a,
      Accept: 'text/event-stream',
      'last-event-id': 'nope',
    });
    expect(garbage.status).toBe(400);
  });

  it('gives ids but no priming event to a session before 2025-11-25', async () => {
    const headers = await session('2025-06-18');
    const res = await open('POST', call(5, 'echo', { text: 'old' }), headers);
    const events = parseSse(await res.ended);
    expect(events).toHaveLength(1);
    expect(events[0]!.id).toMatch(/\.1$/);
    expect(events[0]!.retry).toBeUndefined();
  });

  it('closes a call’s stream still waiting after closeAfterMs (polling); the client comes back for the result', async () => {
    closeAfterMs = 300;
    const headers = await session();
    closeAfterMs = undefined;
    const res = await open('POST', call(7, 'slow', { ms: 2_500 }), headers);
    const body = await res.ended;
    const events = parseSse(body);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toBe('');
    const resumed = await open('GET', undefined, {
      ...headers,
      Accept: 'text/event-stream',
      'last-event-id': events[0]!.id!,
    });
    const replayed = parseSse(await resumed.ended);
    expect(JSON.parse(replayed[0]!.data)).toMatchObject({
      id: 7,
      result: { content: [{ text: 'slept 2500' }] },
    });
  });

  it('forgets a session’s events on DELETE', async () => {
    const headers = await session();
    const bytesBefore = store.bytes;
    await (
      await open('POST', call(6, 'echo', { text: 'x'.repeat(1000) }), headers)
    ).ended;
    expect(store.bytes).toBeGreaterThan(bytesBefore + 1000);
    await (
      await open('DELETE', undefined, headers)
    ).ended;
    expect(store.bytes).toBeLessThanOrEqual(bytesBefore);
  });
});

describe('the SDK client over a connection cut mid-call', () => {
  it('reconnects with Last-Event-ID after the retry interval and gets the result', async () => {
    let cutNext = false;
    let resumedWith: string | undefined;
    // A fetch whose POST stream for the call breaks after its first chunk (the priming event).
    const flaky: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      if (init?.method === 'GET' && headers.get('last-event-id') !== null) {
        resumedWith = headers.get('last-event-id')!;
      }
      const response = await fetch(input, init);
      const isCall = typeof init?.body === 'string' && init.body.includes('"slow"');
      if (!isCall || !cutNext || response.body === null) return response;
      cutNext = false;
      const reader = response.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value } = await reader.read();
          if (value !== undefined) controller.enqueue(value);
          await reader.cancel();
          controller.error(new Error('connection reset'));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const transport = new StreamableHTTPClientTransport(new URL(url), {
      fetch: flaky,
      reconnectionOptions: {
        initialReconnectionDelay: 100,
        maxReconnectionDelay: 1_000,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 3,
      },
    });
    const client = new Client({ name: 'resume', version: '0' });
    await client.connect(transport);
    cutNext = true;
    const result = (await client.callTool({ name: 'slow', arguments: { ms: 1_500 } })) as CallToolResult;
    expect(result.content[0]).toEqual({ type: 'text', text: 'slept 1500' });
    expect(resumedWith).toMatch(new RegExp(`^${transport.sessionId}\\.\\d+\\.0$`));
    await client.close();
  });
});
