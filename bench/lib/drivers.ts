/**
 * Load drivers. Lean raw JSON-RPC over stdio (newline framing), Streamable HTTP (JSON or SSE
 * answers, one session id), legacy HTTP+SSE (GET /sse + POST /messages), and the SDK Client for
 * realism. All expose `request(method, params)`; `McpSession` adds initialize and a checked call.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Pool } from 'undici';
import { spawnTracked, type Tracked } from './proc.js';

export const PROTOCOL = '2025-06-18';
const TIMEOUT_MS = 15_000;

export interface JsonRpcError {
  code: number;
  message: string;
}

/** One JSON-RPC peer. `request` resolves with the full response message ({result} or {error}). */
export interface Rpc {
  request(method: string, params: unknown): Promise<RpcAnswer>;
  notify(method: string, params?: unknown): Promise<void>;
  close(): Promise<void>;
}

export interface RpcAnswer {
  result?: Record<string, unknown>;
  error?: JsonRpcError;
}

interface Waiter {
  resolve(m: RpcAnswer): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

class Waiters {
  private readonly map = new Map<number, Waiter>();
  add(id: number): Promise<RpcAnswer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.map.delete(id);
        reject(new Error(`timeout waiting for id ${id}`));
      }, TIMEOUT_MS);
      this.map.set(id, { resolve, reject, timer });
    });
  }
  settle(msg: { id?: unknown } & RpcAnswer): boolean {
    if (typeof msg.id !== 'number') return false;
    const w = this.map.get(msg.id);
    if (w === undefined) return false;
    this.map.delete(msg.id);
    clearTimeout(w.timer);
    w.resolve(msg);
    return true;
  }
  failAll(e: Error): void {
    for (const w of this.map.values()) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.map.clear();
  }
}

/** Raw newline-delimited JSON-RPC to a child process's stdin/stdout. */
export class StdioRpc implements Rpc {
  private nextId = 1;
  private readonly waiters = new Waiters();
  private buf = '';
  readonly proc: Tracked;

  constructor(cmd: string, args: readonly string[], env: Record<string, string> = {}) {
    this.proc = spawnTracked(cmd, args, { env, stdin: 'pipe', stdout: 'pipe' });
    const out = this.proc.child.stdout;
    out?.setEncoding('utf8');
    out?.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.length === 0) continue;
        this.waiters.settle(JSON.parse(line) as { id?: unknown } & RpcAnswer);
      }
    });
    this.proc.child.once('exit', () =>
      this.waiters.failAll(new Error(`server exited: ${this.proc.stderrTail().slice(-500)}`)),
    );
  }

  request(method: string, params: unknown): Promise<RpcAnswer> {
    const id = this.nextId++;
    const p = this.waiters.add(id);
    this.proc.child.stdin?.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    return p;
  }

  notify(method: string, params?: unknown): Promise<void> {
    this.proc.child.stdin?.write(
      JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}) }) + '\n',
    );
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.proc.child.stdin?.end();
    await this.proc.kill();
  }
}

/** Parses an SSE text body into its data payloads. */
function sseData(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split('\n\n')) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart());
    if (data.length) out.push(data.join('\n'));
  }
  return out;
}

/** Streamable HTTP with a lean client: POST per request, JSON or SSE answer, one session. */
export class HttpRpc implements Rpc {
  private nextId = 1;
  sessionId: string | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly path = '/mcp',
    private readonly headers: Record<string, string> = {},
  ) {}

  private async post(message: Record<string, unknown>): Promise<RpcAnswer | undefined> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': PROTOCOL,
      ...this.headers,
    };
    if (this.sessionId) headers['mcp-session-id'] = this.sessionId;
    const res = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers,
      body: JSON.stringify(message),
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
    const text = await res.body.text();
    const sid = res.headers['mcp-session-id'];
    if (typeof sid === 'string') this.sessionId = sid;
    if (res.statusCode === 202) return undefined;
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    if (String(res.headers['content-type']).includes('text/event-stream')) {
      for (const data of sseData(text)) {
        const m = JSON.parse(data) as { id?: unknown } & RpcAnswer;
        if (m.id === message.id) return m;
      }
      throw new Error('no matching message in the SSE answer');
    }
    return JSON.parse(text) as RpcAnswer;
  }

  async request(method: string, params: unknown): Promise<RpcAnswer> {
    const answer = await this.post({ jsonrpc: '2.0', id: this.nextId++, method, params });
    if (answer === undefined) throw new Error('202 for a request');
    return answer;
  }

  async notify(method: string, params?: unknown): Promise<void> {
    await this.post({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
  }

  async close(): Promise<void> {
    if (!this.sessionId) return;
    const res = await this.pool
      .request({
        path: this.path,
        method: 'DELETE',
        headers: { 'mcp-session-id': this.sessionId, ...this.headers },
      })
      .catch(() => undefined);
    await res?.body.text().catch(() => undefined);
  }
}

/** Legacy HTTP+SSE (2024-11-05): GET /sse gives the POST endpoint; answers arrive on the stream. */
export class LegacySseRpc implements Rpc {
  private nextId = 1;
  private readonly waiters = new Waiters();
  private endpoint: string | undefined;
  private abort = new AbortController();

  constructor(
    private readonly pool: Pool,
    private readonly headers: Record<string, string> = {},
    private readonly ssePath = '/sse',
  ) {}

  async open(): Promise<void> {
    const res = await this.pool.request({
      path: this.ssePath,
      method: 'GET',
      headers: { accept: 'text/event-stream', ...this.headers },
      signal: this.abort.signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) throw new Error(`GET ${this.ssePath}: HTTP ${res.statusCode}`);
    let gotEndpoint!: () => void;
    const ready = new Promise<void>((r) => (gotEndpoint = r));
    let buf = '';
    res.body.setEncoding('utf8');
    res.body.on('data', (chunk: string) => {
      buf += chunk;
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (event === 'endpoint') {
          this.endpoint = data.join('\n');
          gotEndpoint();
        } else if (data.length) {
          this.waiters.settle(JSON.parse(data.join('\n')) as { id?: unknown } & RpcAnswer);
        }
      }
    });
    res.body.on('error', () => this.waiters.failAll(new Error('SSE stream failed')));
    await ready;
  }

  private async post(message: Record<string, unknown>): Promise<void> {
    if (!this.endpoint) throw new Error('no endpoint yet');
    const url = new URL(this.endpoint, 'http://x');
    const res = await this.pool.request({
      path: url.pathname + url.search,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.headers },
      body: JSON.stringify(message),
    });
    const text = await res.body.text();
    if (res.statusCode !== 202 && res.statusCode !== 200)
      throw new Error(`POST: HTTP ${res.statusCode} ${text}`);
  }

  request(method: string, params: unknown): Promise<RpcAnswer> {
    const id = this.nextId++;
    const p = this.waiters.add(id);
    this.post({ jsonrpc: '2.0', id, method, params }).catch((e: unknown) =>
      this.waiters.settle({ id, error: { code: -1, message: String(e) } }),
    );
    return p;
  }

  notify(method: string, params?: unknown): Promise<void> {
    return this.post({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
  }

  close(): Promise<void> {
    this.abort.abort();
    this.waiters.failAll(new Error('closed'));
    return Promise.resolve();
  }
}

/** The SDK Client as a driver (realism; it costs more CPU than the servers it drives). */
export class SdkRpc implements Rpc {
  readonly client = new Client({ name: 'keyward-bench', version: '0.0.1' });
  pid: number | undefined;

  static async stdio(cmd: string, args: string[], env: Record<string, string>): Promise<SdkRpc> {
    const rpc = new SdkRpc();
    const transport = new StdioClientTransport({
      command: cmd,
      args,
      env: { ...(process.env as Record<string, string>), ...env },
      stderr: 'ignore',
    });
    await rpc.client.connect(transport);
    rpc.pid = transport.pid ?? undefined;
    return rpc;
  }

  static async http(url: string, headers: Record<string, string> = {}): Promise<SdkRpc> {
    const rpc = new SdkRpc();
    await rpc.client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    return rpc;
  }

  async request(method: string, params: unknown): Promise<RpcAnswer> {
    try {
      if (method === 'tools/list')
        return { result: (await this.client.listTools()) as Record<string, unknown> };
      if (method === 'tools/call') {
        const p = params as { name: string; arguments: Record<string, unknown> };
        return {
          result: (await this.client.callTool(p, undefined, { timeout: TIMEOUT_MS })) as Record<
            string,
            unknown
          >,
        };
      }
      throw new Error(`SdkRpc: ${method} not supported`);
    } catch (e) {
      const err = e as { code?: number; message?: string };
      return { error: { code: err.code ?? -1, message: String(err.message ?? e) } };
    }
  }

  notify(): Promise<void> {
    return Promise.resolve(); // the SDK client sends initialized itself
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** What a checked call returned. */
export type CallOutcome = 'ok' | 'wrong' | 'tool-error' | 'protocol-error';

/** An initialized MCP session over any Rpc, with a result-checking tools/call. */
export class McpSession {
  tools: { name: string }[] = [];
  constructor(readonly rpc: Rpc) {}

  async initialize(sdk = false): Promise<void> {
    if (!sdk) {
      const init = await this.rpc.request('initialize', {
        protocolVersion: PROTOCOL,
        capabilities: {},
        clientInfo: { name: 'keyward-bench', version: '0.0.1' },
      });
      if (init.error) throw new Error(`initialize: ${init.error.message}`);
      await this.rpc.notify('notifications/initialized');
    }
    const list = await this.rpc.request('tools/list', {});
    if (list.error) throw new Error(`tools/list: ${list.error.message}`);
    this.tools = (list.result?.tools ?? []) as { name: string }[];
  }

  /** The first tool whose name matches (peer names tools get-item, others get_item). */
  tool(pattern: RegExp): string {
    const t = this.tools.find((x) => pattern.test(x.name));
    if (!t) throw new Error(`no tool matching ${pattern}: ${this.tools.map((x) => x.name).join(', ')}`);
    return t.name;
  }

  /** Calls `tool` and checks that the answer is the item with this id (every response verified). */
  async callItem(tool: string, id: string, extra: Record<string, string> = {}): Promise<CallOutcome> {
    const answer = await this.rpc.request('tools/call', { name: tool, arguments: { id, ...extra } });
    if (answer.error) return 'protocol-error';
    const r = answer.result as { isError?: boolean; content?: { text?: string }[] };
    if (r.isError) return 'tool-error';
    const text = r.content?.[0]?.text ?? '';
    try {
      return (JSON.parse(text) as { id?: unknown }).id === id ? 'ok' : 'wrong';
    } catch {
      return 'wrong';
    }
  }

  /** A call expected to fail fast (invalid arguments, denial); resolves with the outcome seen. */
  async callRaw(tool: string, args: Record<string, unknown>): Promise<CallOutcome> {
    const answer = await this.rpc.request('tools/call', { name: tool, arguments: args });
    if (answer.error) return 'protocol-error';
    return (answer.result as { isError?: boolean }).isError ? 'tool-error' : 'ok';
  }
}
