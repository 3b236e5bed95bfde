/**
 * A client that stops reading its stream cannot make keyward hold its messages without bound.
 * Legacy SSE sends every answer of a session on the one GET /sse response; a hostile agent opens
 * it, never reads it, and keeps POSTing calls to /messages (each answered 202 at once): before the
 * security review of 2026-12-05 every answer was queued in the server's memory for that socket,
 * until the process ran out of heap. Now the session ends once more than its cap waits unsent.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { SecretRegistry, silentLogger } from '../../src/observability/logger.js';
import { startHttpService, type HttpService } from '../../src/transports/serve-http.js';
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
function openStalledSse(): Promise<{ endpoint: string; response: IncomingMessage; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/sse`, {
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

function post(path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
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
