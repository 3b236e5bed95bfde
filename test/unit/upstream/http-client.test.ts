// The HTTP client against real loopback servers: keep-alive, no redirects, deadlines, size cap, abort, errors.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KeywardError } from '../../../src/core/errors.js';
import { classifyResponse } from '../../../src/upstream/classify.js';
import { createHttpClient, type HttpClient, type SendLimits } from '../../../src/upstream/http-client.js';
import type { OutboundRequest } from '../../../src/upstream/outbound-request.js';
import { startServer, type Handler, type RecordingServer } from './recording-server.js';

const LIMITS: SendLimits = { connectMs: 2000, headersMs: 2000, totalMs: 5000, maxResponseBytes: 1 << 20 };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function server(handler?: Handler): Promise<RecordingServer> {
  const s = await startServer(handler);
  cleanup.push(() => s.close());
  return s;
}

function client(): HttpClient {
  const c = createHttpClient();
  cleanup.push(() => c.close());
  return c;
}

function get(origin: string, path = '/'): OutboundRequest {
  return {
    method: 'GET',
    url: new URL(origin + path),
    headers: { accept: 'application/json' },
    body: undefined,
  };
}

async function failure(promise: Promise<unknown>): Promise<KeywardError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KeywardError);
  return error as KeywardError;
}

describe('createHttpClient', () => {
  it('sends method, headers and body and returns status, lowercase headers and the body', async () => {
    const s = await server((req, res, body) => {
      res.setHeader('X-Echo-Method', req.method ?? '');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.statusCode = 201;
      res.end(JSON.stringify({ body }));
    });
    const http = client();
    const response = await http.send(
      {
        method: 'POST',
        url: new URL(`${s.origin}/items?x=1`),
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      },
      LIMITS,
    );
    expect(response.status).toBe(201);
    expect(response.headers['x-echo-method']).toBe('POST');
    expect(response.headers['set-cookie']).toBe('a=1, b=2');
    expect(JSON.parse(response.body.toString())).toEqual({ body: '{"a":1}' });
    expect(response.durationMs).toBeGreaterThanOrEqual(0);
    expect(s.requests[0]!.url).toBe('/items?x=1');
    expect(s.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('reuses keep-alive connections for sequential calls', async () => {
    const s = await server();
    const http = client();
    for (let i = 0; i < 10; i++) expect((await http.send(get(s.origin, `/${i}`), LIMITS)).status).toBe(200);
    expect(s.requests).toHaveLength(10);
    // undici may open a second socket while the first is being released; never one per call.
    expect(s.connections()).toBeLessThanOrEqual(2);
    expect(new Set(s.requests.map((r) => r.socketId)).size).toBeLessThanOrEqual(2);
  });

  it('does not follow redirects: the 3xx comes back and the target receives nothing', async () => {
    const target = await server();
    const s = await server((_req, res) => {
      res.writeHead(302, { Location: `${target.origin}/steal` });
      res.end();
    });
    for (const status of [301, 302, 307, 308]) {
      const http = client();
      const redirecting = await server((_req, res) => {
        res.writeHead(status, { Location: `${target.origin}/steal` });
        res.end();
      });
      const response = await http.send(
        { ...get(redirecting.origin), headers: { authorization: 'Bearer cnry_secret_value_1234' } },
        LIMITS,
      );
      expect(response.status).toBe(status);
      const verdict = classifyResponse(response, { tool: 't' });
      expect(verdict.kind === 'error' && verdict.error.code).toBe('upstream_rejected');
    }
    expect((await client().send(get(s.origin), LIMITS)).status).toBe(302);
    expect(target.requests).toHaveLength(0);
    expect(target.connections()).toBe(0);
  });

  it('headers deadline: a server that accepts but never answers', async () => {
    const s = await server(() => {
      /* never answers */
    });
    const error = await failure(client().send(get(s.origin), { ...LIMITS, headersMs: 150 }));
    expect(error.code).toBe('upstream_timeout');
    expect(error.message).toContain('headers');
    expect(error.message).toContain('150');
  });

  it('total deadline: headers arrive, then the body trickles forever', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(timer));
    });
    const error = await failure(client().send(get(s.origin), { ...LIMITS, totalMs: 300 }));
    expect(error.code).toBe('upstream_timeout');
    expect(error.message).toContain('total deadline');
    expect(error.message).toContain('300');
  });

  it('size cap: an endless streamed body is cut at the cap and the socket is closed', async () => {
    let closed = false;
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 97);
      const pump = (): void => {
        while (!closed && res.write(chunk)) {
          /* fill the buffer */
        }
      };
      res.on('drain', pump);
      res.on('close', () => {
        closed = true;
      });
      pump();
    });
    const error = await failure(client().send(get(s.origin), { ...LIMITS, maxResponseBytes: 100_000 }));
    expect(error.code).toBe('response_too_large');
    expect(error.message).toContain('100000');
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true);
  });

  it('size cap: a declared content-length over the cap is refused before reading', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '5000' });
      res.end('y'.repeat(5000));
    });
    const error = await failure(client().send(get(s.origin), { ...LIMITS, maxResponseBytes: 4999 }));
    expect(error.code).toBe('response_too_large');
    const ok = await client().send(get(s.origin), { ...LIMITS, maxResponseBytes: 5000 });
    expect(ok.body).toHaveLength(5000);
  });

  it('a call queued behind a busy connection keeps its own deadline', async () => {
    const s = await server((req, res) => {
      if (req.url === '/slow') return; // never answers: holds the only connection
      res.end('{}');
    });
    const c = createHttpClient({ connectionsPerOrigin: 1 });
    cleanup.push(() => c.close());
    let slowSettled = false;
    const slow = c
      .send(get(s.origin, '/slow'), { ...LIMITS, headersMs: 1500, totalMs: 1500 })
      .finally(() => (slowSettled = true));
    const queued = await failure(c.send(get(s.origin, '/fast'), { ...LIMITS, totalMs: 100 }));
    expect(queued.code).toBe('upstream_timeout');
    expect(queued.message).toContain('total deadline of 100 ms');
    // Refused while the call ahead of it still holds the connection, not once that one ends.
    expect(slowSettled).toBe(false);
    await failure(slow);
  });

  it("the caller's abort signal stops the call", async () => {
    const s = await server(() => {
      /* never answers */
    });
    const controller = new AbortController();
    const pending = client().send(get(s.origin), LIMITS, controller.signal);
    setTimeout(() => controller.abort(), 50);
    const error = await failure(pending);
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('cancelled');

    const pre = await failure(client().send(get(s.origin), LIMITS, AbortSignal.abort()));
    expect(pre.code).toBe('upstream_error');
    const reason = new KeywardError('upstream_timeout', 'call deadline');
    const withReason = await failure(client().send(get(s.origin), LIMITS, AbortSignal.abort(reason)));
    expect(withReason).toBe(reason);
  });

  it('network errors carry the error code, never the URL or its query string', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await failure(
      client().send(get(`http://127.0.0.1:${port}`, '/x?api_key=cnry_query_secret_123'), LIMITS),
    );
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain('cnry_query_secret_123');
    expect(error.detail ?? '').not.toContain('cnry_query_secret_123');
  });

  it('refuses a compressed body (the redactor could not see an echoed key inside it)', async () => {
    const { gzipSync } = await import('node:zlib');
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
      res.end(gzipSync('{"echo":"cnry_gzip_secret_1234"}'));
    });
    const error = await failure(client().send(get(s.origin), LIMITS));
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('gzip');
  });

  it('a server that resets the connection is upstream_error', async () => {
    const s = await server((req) => req.socket.destroy());
    const error = await failure(client().send(get(s.origin), LIMITS));
    expect(error.code).toBe('upstream_error');
  });

  /** A raw TCP upstream that answers every request with `response` (bytes no HTTP server would send). */
  async function rawUpstream(response: string): Promise<string> {
    const raw = createServer((socket) => {
      socket.once('data', () => socket.end(response));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => raw.close(() => resolve())));
    return `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  }

  it.each([
    [
      'an invalid header name',
      'HTTP/1.1 200 OK\r\nBad Header: cnry_hdr_secret_4242\r\nContent-Length: 2\r\n\r\nok',
      "the upstream's response is not valid HTTP/1.1 (Invalid header token)",
    ],
    [
      'a NUL in a header value',
      'HTTP/1.1 200 OK\r\nX-Key: cnry_hdr_secret_4242\u0000\r\nContent-Length: 2\r\n\r\nok',
      "the upstream's response is not valid HTTP/1.1 (Invalid header value char)",
    ],
    [
      'no status line',
      'cnry_hdr_secret_4242 is not HTTP\r\n\r\n',
      "the upstream's response is not valid HTTP/1.1 (Expected HTTP/, RTSP/ or ICE/)",
    ],
    [
      'a body cut short',
      'HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n{"key":"cnry_hdr_secret_4242"',
      'the upstream closed the connection before its response was complete',
    ],
    [
      'headers over the parser limit',
      `HTTP/1.1 200 OK\r\nX-Key: cnry_hdr_secret_4242${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`,
      "the upstream's response headers are larger than keyward accepts",
    ],
  ])('a response with %s is named as such, without its bytes', async (_case, response, message) => {
    const origin = await rawUpstream(response);
    const error = await failure(client().send(get(origin, '/x?api_key=cnry_query_secret_123'), LIMITS));
    expect(error.code).toBe('upstream_error');
    expect(error.message).toBe(message);
    for (const text of [error.message, error.detail ?? '', JSON.stringify(error)]) {
      expect(text).not.toContain('cnry_hdr_secret_4242');
      expect(text).not.toContain('cnry_query_secret_123');
    }
  });

  it('refuses to send after close()', async () => {
    const s = await server();
    const http = createHttpClient();
    expect((await http.send(get(s.origin), LIMITS)).status).toBe(200);
    await http.close();
    expect((await failure(http.send(get(s.origin), LIMITS))).code).toBe('upstream_error');
  });
});
