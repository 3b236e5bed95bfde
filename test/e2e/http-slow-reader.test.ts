/**
 * A client that stops reading its stream cannot make keyward hold its messages without bound.
 * Legacy SSE sends every answer of a session on the one GET /sse response; a hostile agent opens
 * it, never reads it, and keeps POSTing calls to /messages (each answered 202 at once): before the
 * security review of 2026-12-05 every answer was queued in the server's memory for that socket,
 * without bound. Now the session ends once more than its cap waits unsent, or once its socket
 * moved nothing for stallMs (below the cap: what waited was held for as long as the client stayed).
 */
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

let upstream: Upstream;
let service: HttpService;
let base: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  const { dir, configPath } = await makeWorkspace(
    (d) => ({
      ...coreConfig(d, upstream.origin),
      identity: { tokens: [{ agent: 'local', sha256: sha256Hex(TOKEN), id: 'a' }] },
      policy: {
        hideUnusableTools: false,
        rules: [{ id: 'all', effect: 'allow', roles: ['owner'], permissions: ['api:*'] }],
      },
      server: { http: { host: '127.0.0.1', port: 0 } },
      logging: { level: 'silent' },
    }),
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
