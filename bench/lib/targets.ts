/**
 * The targets under test and how to start each: the direct call (floor), the tutorial SDK server,
 * the hand-rolled floor, the peer @ivotoby/openapi-mcp-server, and keyward in step configurations,
 * over stdio, Streamable HTTP and legacy SSE, driven raw or by the SDK Client.
 */
import path from 'node:path';
import { Pool } from 'undici';
import {
  HttpRpc,
  LegacySseRpc,
  McpSession,
  SdkRpc,
  StdioRpc,
  type CallOutcome,
  type Rpc,
} from './drivers.js';
import { MAIN_JS, TOKEN, disableEnv } from './keyward.js';
import { ELD_PROBE, benchDir, freePort, spawnTracked, waitPort, type Tracked } from './proc.js';

export type Family = 'direct' | 'tutorial' | 'handrolled' | 'peer' | 'keyward';
export type Transport = 'none' | 'stdio' | 'http' | 'sse';

export interface TargetSpec {
  readonly name: string;
  readonly family: Family;
  readonly transport: Transport;
  readonly driver?: 'raw' | 'sdk';
  /** keyward: steps switched off (KEYWARD_BENCH_DISABLE). */
  readonly disable?: readonly string[];
  /** tutorial over HTTP: JSON answers instead of SSE. */
  readonly json?: boolean;
  /** keyward: another build's main.js (A/B against a baseline, KEYWARD_BENCH_BASELINE_MAIN). */
  readonly main?: string;
  /** keyward: tracing on, spans exported over OTLP/HTTP to the benchmark's upstream (/v1/traces). */
  readonly otel?: boolean;
  readonly desc: string;
}

export interface TargetContext {
  readonly upstream: string;
  /** keyward's config file. */
  readonly configPath: string;
  /** Extra environment for keyward (e.g. the Vault token). */
  readonly env?: Record<string, string>;
}

export interface Running {
  readonly spec: TargetSpec;
  /** Server processes whose CPU is charged to the target. */
  readonly pids: number[];
  readonly proc: Tracked | undefined;
  readonly connectMs: number;
  /** The checked item call (id = String(k)); `extra` adds arguments (size). */
  call(k: number, extra?: Record<string, string>, tool?: string): Promise<CallOutcome>;
  /** The main session (undefined for the direct floor). */
  readonly session: McpSession | undefined;
  /** Opens another independent session (HTTP transports). */
  newSession?(): Promise<McpSession>;
  close(): Promise<void>;
}

const node = process.execPath;
const server = (file: string): string => path.join(benchDir, 'servers', file);
const PEER_BIN = path.join(benchDir, '..', 'node_modules/@ivotoby/openapi-mcp-server/bin/mcp-server.js');

function command(
  spec: TargetSpec,
  ctx: TargetContext,
  port: number,
): { args: string[]; env: Record<string, string> } {
  const pre = ['--import', ELD_PROBE];
  const mode = spec.transport === 'stdio' ? 'stdio' : 'http';
  const base = { UPSTREAM_URL: ctx.upstream, MODE: mode, HTTP_PORT: String(port) };
  switch (spec.family) {
    case 'tutorial':
      return {
        args: [...pre, server('tutorial-server.mjs')],
        env: { ...base, ...(spec.json ? { JSON_RESPONSE: '1' } : {}) },
      };
    case 'handrolled':
      return { args: [...pre, server('handrolled-server.mjs')], env: base };
    case 'peer': {
      const args = [
        ...pre,
        PEER_BIN,
        '--api-base-url',
        ctx.upstream,
        '--openapi-spec',
        path.join(benchDir, 'fixtures/openapi.json'),
        '--headers',
        `Authorization:Bearer ${TOKEN}`,
        '--verbose',
        'false',
      ];
      if (mode === 'http')
        args.push('--transport', 'http', '--host', '127.0.0.1', '--port', String(port), '--path', '/mcp');
      return { args, env: {} };
    }
    case 'keyward': {
      const args = [...pre, spec.main ?? MAIN_JS, 'serve', '--config', ctx.configPath];
      if (mode === 'http') args.push('--http', '--port', String(port));
      return {
        args,
        env: {
          ...disableEnv(spec.disable ?? []),
          ...(ctx.env ?? {}),
          ...(spec.otel
            ? { OTEL_EXPORTER_OTLP_ENDPOINT: ctx.upstream, OTEL_SERVICE_NAME: 'keyward-bench' }
            : {}),
        },
      };
    }
    default:
      throw new Error(`no command for ${spec.family}`);
  }
}

const ITEM = /^get[-_]item$/;

function checkedCall(session: McpSession, defaultTool: string): Running['call'] {
  return (k, extra, tool) => session.callItem(tool ?? defaultTool, String(k), extra);
}

async function startDirect(spec: TargetSpec, ctx: TargetContext): Promise<Running> {
  const pool = new Pool(ctx.upstream, { connections: 64, keepAliveTimeout: 60_000 });
  const call = async (k: number, extra?: Record<string, string>): Promise<CallOutcome> => {
    const id = String(k);
    const res = await pool.request({
      path: `/items/${id}${extra?.size ? `?size=${extra.size}` : ''}`,
      method: 'GET',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) return 'tool-error';
    return (JSON.parse(text) as { id: string }).id === id ? 'ok' : 'wrong';
  };
  return {
    spec,
    pids: [],
    proc: undefined,
    connectMs: 0,
    call,
    session: undefined,
    close: () => pool.close(),
  };
}

export async function startTarget(spec: TargetSpec, ctx: TargetContext): Promise<Running> {
  if (spec.family === 'direct') return startDirect(spec, ctx);
  const t0 = performance.now();
  const port = spec.transport === 'stdio' ? 0 : await freePort();
  const { args, env } = command(spec, ctx, port);

  if (spec.transport === 'stdio') {
    let rpc: Rpc;
    let pid: number;
    let proc: Tracked | undefined;
    if (spec.driver === 'sdk') {
      const sdk = await SdkRpc.stdio(node, args, env);
      rpc = sdk;
      pid = sdk.pid ?? 0;
    } else {
      const raw = new StdioRpc(node, args, env);
      rpc = raw;
      proc = raw.proc;
      pid = raw.proc.pid;
    }
    const session = new McpSession(rpc);
    await session.initialize(spec.driver === 'sdk');
    const connectMs = performance.now() - t0;
    return {
      spec,
      pids: [pid],
      proc,
      connectMs,
      session,
      call: checkedCall(session, session.tool(ITEM)),
      close: async () => {
        await rpc.close().catch(() => undefined);
        await proc?.kill();
      },
    };
  }

  const proc = spawnTracked(node, args, { env });
  await waitPort(port, 20_000, proc);
  const origin = `http://127.0.0.1:${port}`;
  const pool = new Pool(origin, { connections: 128, keepAliveTimeout: 60_000 });
  const rpcs: Rpc[] = [];
  const open = async (): Promise<McpSession> => {
    let rpc: Rpc;
    if (spec.driver === 'sdk') rpc = await SdkRpc.http(`${origin}/mcp`);
    else if (spec.transport === 'sse') {
      const sse = new LegacySseRpc(pool);
      await sse.open();
      rpc = sse;
    } else rpc = new HttpRpc(pool);
    rpcs.push(rpc);
    const session = new McpSession(rpc);
    await session.initialize(spec.driver === 'sdk');
    return session;
  };
  const session = await open();
  const connectMs = performance.now() - t0;
  return {
    spec,
    pids: [proc.pid],
    proc,
    connectMs,
    session,
    call: checkedCall(session, session.tool(ITEM)),
    newSession: open,
    close: async () => {
      await Promise.all(rpcs.map((r) => r.close().catch(() => undefined)));
      await pool.close().catch(() => undefined);
      await proc.kill();
    },
  };
}
