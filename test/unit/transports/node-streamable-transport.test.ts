/**
 * keyward's own Streamable HTTP server transport, over real sockets on 127.0.0.1: the SDK client
 * against it (calls, progress, elicitation, the standalone GET stream, DELETE), and raw HTTP for
 * every protocol edge the SDK transport answers (406, 415, 400, 404, 405, 409, 202), batches,
 * held-back headers, keep-alives, a client that goes away mid-call, and close().
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ElicitRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ToolListChangedNotificationSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NodeStreamableHttpTransport } from '../../../src/transports/node-streamable-transport.js';

interface Session {
  transport: NodeStreamableHttpTransport;
  server: McpServer;
}

const sessions = new Map<string, Session>();
const clients: Client[] = [];
let httpServer: Server;
let url: string;
let closedSessions = 0;

function buildServer(): McpServer {
  const server = new McpServer({ name: 'transport-test', version: '0.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { content: [{ type: 'text', text: `slept ${ms}` }] };
  });
  server.registerTool('progress', {}, async (extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: 1, total: 2 },
      });
    }
    return { content: [{ type: 'text', text: 'done' }] };
  });
  server.registerTool('ask', {}, async () => {
    const answer = await server.server.elicitInput({
      message: 'proceed?',
      requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } } },
    });
    return { content: [{ type: 'text', text: answer.action }] };
  });
  server.registerTool('big', { inputSchema: { mb: z.number() } }, ({ mb }) => ({
    content: [{ type: 'text', text: 'x'.repeat(mb * 1024 * 1024) }],
  }));
  server.registerTool('announce', {}, () => {
    server.sendToolListChanged();
    return { content: [{ type: 'text', text: 'announced' }] };
  });
  return server;
}

beforeAll(async () => {
  httpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        res.writeHead(400).end();
        return;
      }
      void route(req, res, body);
    });
  });
  const route = async (
    req: Parameters<NodeStreamableHttpTransport['handleRequest']>[0],
    res: Parameters<NodeStreamableHttpTransport['handleRequest']>[1],
    body: unknown,
  ): Promise<void> => {
    const sid = req.headers['mcp-session-id'];
    const direct = req.url?.startsWith('/direct/') === true ? req.url.slice('/direct/'.length) : undefined;
    const found = sessions.get(direct ?? (typeof sid === 'string' ? sid : ''));
    if (found !== undefined) {
      await found.transport.handleRequest(req, res, body);
      return;
    }
    if (sid !== undefined) {
      res.writeHead(404).end();
      return;
    }
    const server = buildServer();
    const transport: NodeStreamableHttpTransport = new NodeStreamableHttpTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, { transport, server }),
      headerFlushMs: 200,
      keepAliveMs: 300,
      stallMs: 1_500,
    });
    transport.onclose = () => {
      closedSessions++;
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/mcp`;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

afterAll(async () => {
  for (const s of sessions.values()) await s.transport.close();
  httpServer.closeAllConnections();
  await new Promise((resolve) => httpServer.close(resolve));
});

async function connect(): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 't', version: '0' }, { capabilities: { elicitation: { form: {} } } });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

function text(result: unknown): string {
  const content = (result as CallToolResult).content[0];
  return content?.type === 'text' ? content.text : '';
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** ms from sending to the response headers, and to the end of the body. */
  headersAt: number;
  endAt: number;
}

function raw(
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
  abortAfterMs?: number,
  path = '/mcp',
): Promise<RawResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(path, url),
      {
        method,
        headers: {
          Accept: 'application/json, text/event-stream',
          ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        const headersAt = Date.now() - start;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            headersAt,
            endAt: Date.now() - start,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (abortAfterMs !== undefined) setTimeout(() => req.destroy(), abortAfterMs);
    req.end(payload);
  });
}

const initialize = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'raw', version: '0' },
  },
};

/** A session opened with raw HTTP: its id and the headers every later request needs. */
async function rawSession(): Promise<Record<string, string>> {
  const init = await raw('POST', initialize);
  expect(init.status).toBe(200);
  const id = init.headers['mcp-session-id'];
  expect(typeof id).toBe('string');
  const headers = { 'mcp-session-id': String(id), 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
  const ack = await raw('POST', { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  expect(ack.status).toBe(202);
  return headers;
}

function events(body: string): unknown[] {
  return body
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as unknown);
}

function call(id: number, name: string, args: Record<string, unknown> = {}): Record<string, unknown> {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

describe('NodeStreamableHttpTransport with the SDK client', () => {
  it('initializes a session, lists tools and calls one', async () => {
    const { client, transport } = await connect();
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('echo');
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'hello' } }))).toBe('hello');
  });

  it('streams a progress notification before the result', async () => {
    const { client } = await connect();
    const seen: number[] = [];
    const result = await client.callTool({ name: 'progress', arguments: {} }, undefined, {
      onprogress: (p) => seen.push(p.progress),
    });
    expect(seen).toEqual([1]);
    expect(text(result)).toBe('done');
  });

  it('carries an elicitation request on the call stream and takes the answer in a later POST', async () => {
    const { client } = await connect();
    let asked = '';
    client.setRequestHandler(ElicitRequestSchema, (req) => {
      asked = req.params.message;
      return { action: 'accept', content: { ok: true } };
    });
    expect(text(await client.callTool({ name: 'ask', arguments: {} }))).toBe('accept');
    expect(asked).toBe('proceed?');
  });

  it('delivers a server notification on the standalone GET stream', async () => {
    const { client } = await connect();
    const changed = new Promise<boolean>((resolve) => {
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve(true));
    });
    // The SDK client opens the GET stream after initialization; give it a moment to be there.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(text(await client.callTool({ name: 'announce', arguments: {} }))).toBe('announced');
    await expect(changed).resolves.toBe(true);
  });

  it('ends the session on DELETE (terminateSession): later requests get 404', async () => {
    const { transport } = await connect();
    const id = transport.sessionId ?? '';
    const before = closedSessions;
    await transport.terminateSession();
    expect(closedSessions).toBe(before + 1);
    const after = await raw('POST', call(1, 'echo', { text: 'x' }), {
      'mcp-session-id': id,
      'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
    });
    expect(after.status).toBe(404);
  });
});

describe('NodeStreamableHttpTransport over raw HTTP', () => {
  it('answers a call whose only message is its result as one SSE response with a Content-Length', async () => {
    const headers = await rawSession();
    const res = await raw('POST', call(7, 'echo', { text: 'one write' }), headers);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['mcp-session-id']).toBe(headers['mcp-session-id']);
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
    expect(res.body.startsWith('event: message\ndata: ')).toBe(true);
    expect(events(res.body)).toEqual([
      { jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'one write' }] } },
    ]);
  });

  it('answers a batch of two requests on one stream, each response once', async () => {
    const headers = await rawSession();
    const res = await raw('POST', [call(1, 'slow', { ms: 30 }), call(2, 'echo', { text: 'b' })], headers);
    expect(res.status).toBe(200);
    const ids = events(res.body).map((e) => (e as { id: number }).id);
    expect(ids.sort()).toEqual([1, 2]);
  });

  it('refuses a request id still in use in the session (409); the first request is still answered', async () => {
    // Security review of 2026-12-04: the second POST took over the first one's stream, which then
    // hung, and the slow call's answer was lost.
    const headers = await rawSession();
    const first = raw('POST', call(7, 'slow', { ms: 300 }), headers);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const reused = await raw('POST', call(7, 'echo', { text: 'x' }), headers);
    expect(reused.status).toBe(409);
    expect(reused.body).toContain('already in use');
    const twice = await raw(
      'POST',
      [call(8, 'echo', { text: 'a' }), call(8, 'echo', { text: 'b' })],
      headers,
    );
    expect(twice.status).toBe(409);
    const answered = await first;
    expect(events(answered.body)).toEqual([
      { jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'slept 300' }] } },
    ]);
    // Once answered, the id may be used again.
    expect((await raw('POST', call(7, 'echo', { text: 'again' }), headers)).status).toBe(200);
  });

  it('accepts notifications and responses alone with 202 and no body', async () => {
    const headers = await rawSession();
    const res = await raw('POST', { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, headers);
    expect(res.status).toBe(202);
    expect(res.body).toBe('');
  });

  const cases: [string, () => Promise<RawResponse>, number, number, string][] = [
    [
      'a POST that does not accept SSE',
      async () => raw('POST', initialize, { Accept: 'application/json' }),
      406,
      -32000,
      'Not Acceptable: Client must accept both application/json and text/event-stream',
    ],
    [
      'a POST that is not JSON',
      async () => raw('POST', initialize, { 'Content-Type': 'text/plain' }),
      415,
      -32000,
      'Unsupported Media Type: Content-Type must be application/json',
    ],
    [
      'a batch over 100 messages',
      async () =>
        raw(
          'POST',
          Array.from({ length: 101 }, (_, i) => call(i, 'echo', { text: 'x' })),
          await rawSession(),
        ),
      400,
      -32600,
      'Invalid Request: Batch must not exceed 100 messages',
    ],
    [
      'a body that is not JSON-RPC',
      async () => raw('POST', { hello: 'world' }, await rawSession()),
      400,
      -32700,
      'Parse error: Invalid JSON-RPC message',
    ],
    [
      'an unsupported protocol version',
      async () =>
        raw('POST', call(1, 'echo', { text: 'x' }), {
          ...(await rawSession()),
          'mcp-protocol-version': '1999-01-01',
        }),
      400,
      -32000,
      'Bad Request: Unsupported protocol version: 1999-01-01',
    ],
    [
      'a second initialize',
      async () => raw('POST', initialize, await rawSession()),
      400,
      -32600,
      'Invalid Request: Server already initialized',
    ],
    [
      'a GET that does not accept SSE',
      async () => raw('GET', undefined, { ...(await rawSession()), Accept: 'application/json' }),
      406,
      -32000,
      'Not Acceptable: Client must accept text/event-stream',
    ],
    [
      'a PUT',
      async () => raw('PUT', call(1, 'echo', { text: 'x' }), await rawSession()),
      405,
      -32000,
      'Method not allowed.',
    ],
  ];
  it.each(cases)('refuses %s', async (_name, send, status, code, message) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/json');
    const body = JSON.parse(res.body) as {
      jsonrpc: string;
      id: null;
      error: { code: number; message: string };
    };
    expect(body.jsonrpc).toBe('2.0');
    expect(body.id).toBeNull();
    expect(body.error.code).toBe(code);
    expect(body.error.message.startsWith(message)).toBe(true);
  });

  it('refuses a request carrying another session id with 404 and an empty one with 400', async () => {
    const headers = await rawSession();
    // /direct/<id> reaches that session's transport whatever the header says, past the router's lookup.
    const path = `/direct/${headers['mcp-session-id'] ?? ''}`;
    const wrong = await raw(
      'POST',
      call(1, 'echo', { text: 'x' }),
      { ...headers, 'mcp-session-id': 'other' },
      undefined,
      path,
    );
    expect(wrong.status).toBe(404);
    expect(wrong.body).toContain('Session not found');
    const empty = await raw(
      'POST',
      call(1, 'echo', { text: 'x' }),
      { ...headers, 'mcp-session-id': '' },
      undefined,
      path,
    );
    expect(empty.status).toBe(400);
    expect(empty.body).toContain('Mcp-Session-Id header is required');
  });

  it('allows one standalone GET stream per session (409 for a second)', async () => {
    const headers = await rawSession();
    const first = raw('GET', undefined, { ...headers, Accept: 'text/event-stream' }, 1_500);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await raw('GET', undefined, { ...headers, Accept: 'text/event-stream' });
    expect(second.status).toBe(409);
    expect(second.body).toContain('Only one SSE stream is allowed per session');
    await expect(first).rejects.toThrow();
  });

  it('sends the headers of a slow call early and keeps its stream alive', async () => {
    const headers = await rawSession();
    const res = await raw('POST', call(3, 'slow', { ms: 2_600 }), headers);
    expect(res.status).toBe(200);
    expect(res.headersAt).toBeLessThan(res.endAt - 500);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.body).toContain(': keepalive\n\n');
    expect(events(res.body)).toEqual([
      { jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'slept 2600' }] } },
    ]);
  });

  it('closes the connection of a client that stops reading its answer (no byte taken for stallMs)', async () => {
    const headers = await rawSession();
    const serverSockets: Socket[] = [];
    const onConnection = (socket: Socket): void => void serverSockets.push(socket);
    httpServer.on('connection', onConnection);
    // A raw client: sends a call whose answer (32 MiB) fills every socket buffer, takes its first
    // bytes, then reads nothing more while keeping the connection open.
    const body = JSON.stringify(call(7, 'big', { mb: 32 }));
    const client = tcpConnect((httpServer.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const head = [
      'POST /mcp HTTP/1.1',
      `Host: 127.0.0.1`,
      'Content-Type: application/json',
      'Accept: application/json, text/event-stream',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      `Content-Length: ${Buffer.byteLength(body)}`,
    ].join('\r\n');
    client.write(`${head}\r\n\r\n${body}`);
    await new Promise((resolve) => client.once('data', resolve));
    client.pause();
    httpServer.off('connection', onConnection);
    const served = serverSockets.find((s) => s.remotePort === client.localPort);
    expect(served).toBeDefined();
    // Before: the server held the unsent answer, and the connection, for as long as the client
    // stayed; now it lets go once nothing moved for stallMs.
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => served!.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    client.destroy();
    expect(closed).toBe(true);
    // The session itself goes on.
    const next = await raw('POST', call(8, 'echo', { text: 'after' }), headers);
    expect(events(next.body)).toEqual([
      { jsonrpc: '2.0', id: 8, result: { content: [{ type: 'text', text: 'after' }] } },
    ]);
  });

  it('drops the answer of a client that went away and keeps serving the session', async () => {
    const headers = await rawSession();
    await expect(raw('POST', call(4, 'slow', { ms: 300 }), headers, 50)).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const next = await raw('POST', call(5, 'echo', { text: 'still here' }), headers);
    expect(events(next.body)).toEqual([
      { jsonrpc: '2.0', id: 5, result: { content: [{ type: 'text', text: 'still here' }] } },
    ]);
  });

  it('ends open call streams when the session closes', async () => {
    const headers = await rawSession();
    const session = sessions.get(headers['mcp-session-id'] ?? '');
    const pending = raw('POST', call(6, 'slow', { ms: 1_000 }), headers);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = closedSessions;
    await session?.transport.close();
    const res = await pending;
    expect(closedSessions).toBe(before + 1);
    expect(res.status).toBe(200);
    expect(events(res.body)).toEqual([]);
  });
});
