/**
 * Streams that survive a dropped connection (issue 17), end to end on the built CLI: a call waits
 * on an operator's approval after a URL elicitation; the agent's connection (its POST stream) is
 * cut while it waits; the SDK client reconnects with GET + Last-Event-ID; the operator approves at
 * /console; the result arrives on the resumed stream.
 *
 * - one replica, events in memory: the client comes back to the same replica;
 * - two replicas sharing Redis (random key prefix on the machine's Redis, events encrypted): the
 *   client's reconnect lands on the other replica, which serves the stream from Redis.
 *
 * Another principal cannot resume the stream (403 on either replica), an unknown session is 404,
 * and neither the upstream key, the bearer tokens nor the tool result are in the logs or, in clear,
 * in Redis.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { signIn } from '../helpers/console-client.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';

const KEY = `kw_test_resume_${randomBytes(8).toString('hex')}`;
const TOKENS = { first: generateToken(), second: generateToken() };
const OPERATOR_TOKEN = generateToken();
const keyPrefix = `kwtest:resume:${randomBytes(4).toString('hex')}:`;
const env = { KW_TEST_CACHE_KEY: randomBytes(32).toString('base64') };

let upstream: Upstream;
let single: Replica;
let a: Replica;
let b: Replica;

function config(dir: string, shared: boolean): Record<string, unknown> {
  return {
    ...coreConfig(dir, upstream.origin),
    agents: {
      first: { roles: ['owner'], tenant: 'default' },
      second: { roles: ['owner'], tenant: 'default' },
    },
    identity: {
      tokens: [
        { agent: 'first', sha256: sha256Hex(TOKENS.first), id: 'first' },
        { agent: 'second', sha256: sha256Hex(TOKENS.second), id: 'second' },
      ],
    },
    console: { operators: [{ name: 'carol', sha256: sha256Hex(OPERATOR_TOKEN) }], waitSeconds: 60 },
    policy: {
      hideUnusableTools: false,
      rules: [
        {
          id: 'write',
          effect: 'approve',
          roles: ['owner'],
          permissions: ['api:write'],
          grantTtlSeconds: 600,
        },
      ],
    },
    ...(shared
      ? {
          cache: {
            type: 'redis',
            url: 'redis://127.0.0.1:6379',
            keyPrefix,
            encryptionKey: { env: 'KW_TEST_CACHE_KEY' },
          },
          grants: { store: 'redis' },
        }
      : { grants: { store: 'memory' } }),
    server: { http: { streams: { retryMs: 300 } } },
    logging: { level: 'debug' },
  };
}

interface Flaky {
  fetch: typeof fetch;
  /** Cuts the open POST stream of the tool call (the connection drops). */
  cut(): void;
  /** Resolves once the client's answer to the elicitation was accepted (202). */
  answered: Promise<void>;
  /** Last-Event-ID of every resume the client made, and where it went. */
  resumes: { id: string; to: string }[];
}

/**
 * The client's fetch, behind a "load balancer": POSTs go to `home`, a resume (GET with
 * Last-Event-ID) to `resumeTo()`; the tool call's SSE response can be cut by hand.
 */
function flakyFetch(home: string, resumeTo: () => string): Flaky {
  let cutter: (() => void) | undefined;
  let markAnswered: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (markAnswered = resolve));
  const resumes: { id: string; to: string }[] = [];
  const flaky: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    const lastEventId = headers.get('last-event-id');
    let target = String(input instanceof Request ? input.url : input);
    if (init?.method === 'GET' && lastEventId !== null) {
      target = resumeTo();
      resumes.push({ id: lastEventId, to: target });
    } else {
      target = home;
    }
    const response = await fetch(target, init);
    const body = typeof init?.body === 'string' ? init.body : '';
    if (body.includes('"action":"accept"') && response.status === 202) markAnswered();
    if (!body.includes('"tools/call"') || response.body === null) return response;
    const reader = response.body.getReader();
    let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controllerRef = controller;
      },
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
    });
    cutter = () => {
      void reader.cancel().catch(() => undefined);
      controllerRef?.error(new TypeError('network connection lost'));
    };
    return new Response(stream, { status: response.status, headers: response.headers });
  };
  return { fetch: flaky, cut: () => cutter?.(), answered, resumes };
}

async function agent(flaky: Flaky, url: string, token: string) {
  const client = new Client(
    { name: 'resume-agent', version: '0' },
    { capabilities: { elicitation: { url: {} } } },
  );
  const urls: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    urls.push(String((request.params as { url?: string }).url));
    return { action: 'accept' };
  });
  client.onerror = () => undefined;
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: flaky.fetch,
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    reconnectionOptions: {
      initialReconnectionDelay: 200,
      maxReconnectionDelay: 2_000,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 5,
    },
  });
  await client.connect(transport);
  return { client, urls, transport };
}

async function until<T>(probe: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function approve(on: Replica, elicitationUrl: string): Promise<void> {
  const path = new URL(elicitationUrl).pathname;
  const operator = await signIn(new URL(on.url).origin, OPERATOR_TOKEN);
  const approved = await operator.post(`${path}/approve`, { scope: 'these' }, { pagePath: path });
  expect(approved.status).toBe(303);
}

function resumeStatus(on: Replica, token: string, sessionId: string, lastEventId: string): Promise<number> {
  const controller = new AbortController();
  return fetch(on.url, {
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: 'text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
      'last-event-id': lastEventId,
    },
    signal: controller.signal,
  }).then((r) => {
    controller.abort();
    return r.status;
  });
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  const local = await makeWorkspace((dir) => config(dir, false), { api: KEY });
  const shared = await makeWorkspace((dir) => config(dir, true), { api: KEY });
  [single, a, b] = await Promise.all([
    startReplica(local.configPath, env),
    startReplica(shared.configPath, env),
    startReplica(shared.configPath, env),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([single?.stop(), a?.stop(), b?.stop()]);
  await upstream?.close();
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** Starts a call that waits on approval, cuts its stream once the elicitation is answered. */
async function cutWhileWaiting(flaky: Flaky, home: Replica, marker: string) {
  const session = await agent(flaky, home.url, TOKENS.first);
  const call = session.client.callTool({
    name: 'create_any',
    arguments: { marker },
  }) as Promise<CallToolResult>;
  const url = await until(() => session.urls[0], 'the URL elicitation');
  await flaky.answered;
  flaky.cut();
  await until(() => flaky.resumes[0], 'the client to reconnect');
  return { ...session, call, url };
}

describe('a call waiting on an approval survives a dropped connection', () => {
  it('one replica (memory event store): the client resumes on the same replica and gets the result', async () => {
    const marker = `kw_canary_result_${randomBytes(6).toString('hex')}`;
    const flaky = flakyFetch(single.url, () => single.url);
    const { client, call, url } = await cutWhileWaiting(flaky, single, marker);
    await approve(single, url);
    const result = await call;
    expect(result.isError).not.toBe(true);
    expect(JSON.stringify(result.structuredContent ?? result.content)).toContain(marker);
    expect(flaky.resumes[0]!.id).toMatch(/^[0-9a-f-]{36}\.\d+\.\d+$/);
    expect(upstream.requests.filter((r) => r.body.includes(marker))).toHaveLength(1);
    await client.close();
    for (const secret of [KEY, TOKENS.first, TOKENS.second, OPERATOR_TOKEN]) {
      expect(single.stderr()).not.toContain(secret);
    }
  });

  it('two replicas (Redis event store): the reconnect lands on replica B, which delivers the result of the call on A', async () => {
    const marker = `kw_canary_result_${randomBytes(6).toString('hex')}`;
    const flaky = flakyFetch(a.url, () => b.url);
    const { client, call, url, transport } = await cutWhileWaiting(flaky, a, marker);
    expect(flaky.resumes[0]!.to).toBe(b.url);
    await approve(a, url);
    const result = await call;
    expect(result.isError).not.toBe(true);
    expect(JSON.stringify(result.structuredContent ?? result.content)).toContain(marker);
    expect(upstream.requests.filter((r) => r.body.includes(marker))).toHaveLength(1);

    // Only the principal that owns the session may resume it, on either replica.
    const sessionId = transport.sessionId!;
    const lastEventId = flaky.resumes[0]!.id;
    expect(await resumeStatus(b, TOKENS.second, sessionId, lastEventId)).toBe(403);
    expect(await resumeStatus(a, TOKENS.second, sessionId, lastEventId)).toBe(403);
    expect(await resumeStatus(b, TOKENS.first, sessionId, lastEventId)).toBe(200);
    const unknown = lastEventId.replace(sessionId, '00000000-0000-4000-8000-000000000000');
    expect(await resumeStatus(b, TOKENS.first, '00000000-0000-4000-8000-000000000000', unknown)).toBe(404);
    expect(await resumeStatus(b, TOKENS.first, sessionId, 'not-an-event-id')).toBe(400);
    await client.close();

    // The result is in Redis only encrypted; no secret reached a log.
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${keyPrefix}events:*`);
    expect(keys.length).toBeGreaterThan(0);
    let stored = '';
    for (const key of keys) {
      const type = await redis.type(key);
      stored += JSON.stringify(type === 'list' ? await redis.lrange(key, 0, -1) : await redis.hgetall(key));
    }
    redis.disconnect();
    expect(stored).not.toContain(marker);
    for (const secret of [KEY, TOKENS.first, TOKENS.second, OPERATOR_TOKEN]) {
      expect(a.stderr() + b.stderr()).not.toContain(secret);
    }
    expect(b.stderr()).toContain('stream resume refused');
    expect(b.stderr()).toContain('stream resumed from the shared event store');
  });
});
