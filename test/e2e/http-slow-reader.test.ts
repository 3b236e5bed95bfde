/**
 * A client that stops reading its stream cannot make keyward hold its messages without bound.
 * Legacy SSE sends every answer of a session on the one GET /sse response; a hostile agent opens
 * it, never reads it, and keeps POSTing calls to /messages (each answered 202 at once): before the
 * security review of 2026-12-05 every answer was queued in the server's memory for that socket,
 * without bound. Now the session ends once more than its cap waits unsent, or once its socket
 * moved nothing for stallMs (below the cap: what waited was held for as long as the client stayed).
 * On Streamable HTTP each call's answer travels on its own response: an agent that opened
 * connection after connection and read none held them all, so a principal's unread answers are
 * capped across its connections (429 past the cap).
 */
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import type { Authenticated } from '../../src/identity/authenticated.js';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { SecretRegistry, silentLogger } from '../../src/observability/logger.js';
import { startHttpService, type HttpService } from '../../src/transports/serve-http.js';
import { SseSessions } from '../../src/transports/sse.js';
import type { McpRequest } from '../../src/transports/streamable-http.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_test_slow_reader_3c9e1a7f5b2d8e4c6a0f';
const TOKEN = generateToken();
const OTHER = generateToken();

let upstream: Upstream;
/** An upstream whose every answer is a ~1 MB JSON body. */
let bigUpstream: Server;
let service: HttpService;
let base: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  bigUpstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ blob: 'b'.repeat(1_000_000) }));
  });
  await new Promise<void>((resolve) => bigUpstream.listen(0, '127.0.0.1', resolve));
  const bigOrigin = `http://127.0.0.1:${(bigUpstream.address() as AddressInfo).port}`;
  const { dir, configPath } = await makeWorkspace(
    (d) => {
      const core = coreConfig(d, upstream.origin) as {
        credentials: Record<string, unknown>;
        tools: Record<string, unknown>;
      };
      return {
        ...core,
        credentials: {
          ...core.credentials,
          big: { backend: 'local', ref: 'api', inject: { type: 'bearer' }, origins: [bigOrigin] },
        },
        tools: {
          ...core.tools,
          big_read: {
            description: 'GET a 1 MB body',
            permission: 'api:read',
            credential: 'big',
            request: { method: 'GET', url: `${bigOrigin}/big` },
            input: { type: 'object', properties: {} },
          },
        },
        agents: {
          local: { roles: ['owner'], tenant: 'default' },
          other: { roles: ['owner'], tenant: 'other' },
        },
        identity: {
          tokens: [
            { agent: 'local', sha256: sha256Hex(TOKEN), id: 'a' },
            { agent: 'other', sha256: sha256Hex(OTHER), id: 'b' },
          ],
        },
        policy: {
          hideUnusableTools: false,
          rules: [{ id: 'all', effect: 'allow', roles: ['owner'], permissions: ['api:*'] }],
        },
        server: { http: { host: '127.0.0.1', port: 0 } },
        logging: { level: 'silent' },
      };
    },
    { api: KEY },
  );
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  service = await startHttpService(parseConfig(raw, configPath, dir), {
    logger: silentLogger(),
    secrets: new SecretRegistry(),
    processMetrics: false,
  });
  base = service.http.baseUrl;
});

afterAll(async () => {
  await service?.shutdown(1_000);
  await upstream?.close();
  bigUpstream?.closeAllConnections();
  await new Promise((resolve) => bigUpstream?.close(resolve));
});

/** Opens GET /sse, reads up to the endpoint event, then stops reading (the socket stays open). */
function openStalledSse(
  at = base,
): Promise<{ endpoint: string; response: IncomingMessage; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${at}/sse`, {
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
    });
    req.on('error', reject);
    req.on('response', (response) => {
      let text = '';
      const closed = new Promise<void>((done) => response.socket.once('close', () => done()));
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('utf8');
        const match = /event: endpoint\ndata: (\S+)\n\n/.exec(text);
        if (match === null) return;
        response.off('data', onData);
        response.pause();
        resolve({ endpoint: match[1]!, response, closed });
      };
      response.on('data', onData);
    });
    req.end();
  });
}

function post(path: string, body: unknown, at = base): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${at}${path}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('a client that stops reading its legacy SSE stream', () => {
  it('loses the session once too much waits for it, instead of growing the server without bound', async () => {
    const { endpoint, response, closed } = await openStalledSse();
    const send = (id: number, method: string, params?: unknown): Promise<number> =>
      post(endpoint, { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    expect(
      await send(0, 'initialize', {
        protocolVersion: '2024-11-05',
        capabilities: {},
        clientInfo: { name: 'stalled', version: '0' },
      }),
    ).toBe(202);
    expect(await post(endpoint, { jsonrpc: '2.0', method: 'notifications/initialized' })).toBe(202);
    expect(service.http.sessions).toBe(1);

    // Each answer carries ~60 KB twice (the echoed body as text and as structured content): 640
    // calls queue ~80 MB for the stalled socket, far more than the kernel's socket buffers take.
    const padding = 'p'.repeat(60_000);
    let id = 1;
    const statuses: number[] = [];
    const worker = async (): Promise<void> => {
      while (id <= 640) {
        const n = id++;
        statuses.push(await send(n, 'tools/call', { name: 'create_any', arguments: { padding, n } }));
        if (statuses.includes(404)) return;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    // The session is gone (its endpoint answers 404), and the server ended its stream: once the
    // client reads again it gets what was sent, then the end.
    expect(statuses).toContain(404);
    expect(service.http.sessions).toBe(0);
    expect(await send(10_000, 'tools/list')).toBe(404);
    response.resume();
    const ended = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    expect(ended).toBe(true);
  }, 60_000);
});

describe('a client that stops reading its legacy SSE stream, below the byte cap', () => {
  it('loses the session once its socket moved nothing for stallMs', async () => {
    // The same sessions as `serve --http` builds, on a bare server, with a short stallMs.
    const auth: Authenticated = {
      principal: { agent: 'local', tenant: 'default', roles: ['owner'], attributes: {}, authMethod: 'token' },
      subject: 'token:a',
    };
    const sse = new SseSessions({
      gateway: service.gateway,
      logger: silentLogger(),
      clock: systemClock,
      messagesPath: '/messages',
      admit: () => 'ok',
      keepAliveMs: 250,
      stallMs: 1_500,
    });
    const server: Server = createServer((req, res) => {
      if (req.method === 'GET') return void sse.open(res, auth);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        (req as McpRequest).body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        void sse.post(req, res, auth);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const at = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const { endpoint } = await openStalledSse(at);
      const send = (id: number, method: string, params?: unknown): Promise<number> =>
        post(endpoint, { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }, at);
      await send(0, 'initialize', {
        protocolVersion: '2024-11-05',
        capabilities: {},
        clientInfo: { name: 'stalled', version: '0' },
      });
      await post(endpoint, { jsonrpc: '2.0', method: 'notifications/initialized' }, at);
      // ~14 MB of answers: more than the socket buffers take (the rest waits in the server), less
      // than MAX_UNSENT_BYTES, so only the stall can end the session.
      const padding = 'p'.repeat(60_000);
      for (let n = 1; n <= 115; n++) {
        expect(await send(n, 'tools/call', { name: 'create_any', arguments: { padding, n } })).toBe(202);
      }
      expect(sse.size).toBe(1);
      const deadline = Date.now() + 6_000;
      while (sse.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(sse.size).toBe(0);
      expect(await send(1_000, 'tools/list')).toBe(404);
    } finally {
      await sse.closeAll();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);
});

/** A Streamable HTTP session opened with raw HTTP: the headers every later request needs. */
async function streamableSession(token: string): Promise<Record<string, string>> {
  const init = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(`${base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'r', version: '0' } },
      }),
    );
  });
  init.resume();
  return {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-session-id': String(init.headers['mcp-session-id']),
    'mcp-protocol-version': '2025-06-18',
  };
}

/** POSTs `body` on a raw connection, returns its first bytes, then reads nothing more. */
async function stalledPost(
  headers: Record<string, string>,
  body: unknown,
): Promise<{ socket: Socket; first: string }> {
  const payload = JSON.stringify(body);
  const socket = tcpConnect(Number(new URL(base).port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const head = [
    'POST /mcp HTTP/1.1',
    `Host: ${new URL(base).host}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${Buffer.byteLength(payload)}`,
  ].join('\r\n');
  socket.write(`${head}\r\n\r\n${payload}`);
  const first = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.pause();
  return { socket, first: first.toString('latin1') };
}

describe('clients of one principal that read none of their answers, on many connections', () => {
  it('get 429 once that principal’s unread answers pass the cap; another tenant is served', async () => {
    const headers = await streamableSession(TOKEN);
    const sockets: Socket[] = [];
    let refused: string | undefined;
    try {
      // Each connection: 16 calls whose answers (~2 MB each: the body as text and as structured
      // content) it never reads, far more than the socket buffers take. Before, each call's
      // in-flight slot was freed when its answer was queued, and every connection's answers stayed
      // in the server's memory (~400 MB for 12 connections here, without end but maxConnections).
      for (let c = 0; c < 12 && refused === undefined; c++) {
        const batch = Array.from({ length: 16 }, (_, i) => ({
          jsonrpc: '2.0',
          id: c * 100 + i,
          method: 'tools/call',
          params: { name: 'big_read', arguments: {} },
        }));
        const { socket, first } = await stalledPost(headers, batch);
        sockets.push(socket);
        if (first.startsWith('HTTP/1.1 429') && first.includes('read them')) refused = first;
        else if (first.startsWith('HTTP/1.1 429')) c--; // the previous batch's calls still run
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(refused).toBeDefined();
      expect(refused).toContain('Retry-After: 30');
      // Another tenant is served meanwhile.
      const other = await streamableSession(OTHER);
      const res = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: other,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(res.status).toBe(200);
      await res.text();
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    // Once the stalled connections are gone, the principal is served again.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 9_999, method: 'tools/list' }),
    });
    expect(again.status).toBe(200);
    await again.text();
  }, 120_000);
});
