/**
 * keyward under test: a workspace (key, encrypted store or Vault, config) built with the real CLI,
 * and the environment that switches steps off for attribution (KEYWARD_BENCH_DISABLE).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchDir, freePort, repoRoot, spawnTracked, waitPort, type Tracked } from './proc.js';
import type { TargetContext } from './targets.js';

/** KEYWARD_BENCH_MAIN points at another build (an A/B run against a baseline checkout). */
export const MAIN_JS = process.env.KEYWARD_BENCH_MAIN ?? path.join(repoRoot, 'dist/src/main.js');
/**
 * The published binary, the esbuild bundle of dist/src (scripts/bundle.mjs): what the cold start
 * measures. The per-call benchmarks run tsc's dist/src/main.js (the same code, unbundled), so their
 * A/B runs against a baseline checkout's dist/src compare like with like.
 */
export const BIN_JS = process.env.KEYWARD_BENCH_MAIN ?? path.join(repoRoot, 'dist/bin/keyward.js');
export const TOKEN = 'test-token-123';

export interface WorkspaceOptions {
  readonly upstream: string;
  /** Default: sqlite in the workspace. */
  readonly audit?: Record<string, unknown>;
  /** Default: the encrypted file backend holding TOKEN. */
  readonly vault?: { url: string; tokenEnv: string; keys: number };
  readonly cacheTtlSeconds?: number;
}

export interface Workspace {
  readonly dir: string;
  readonly configPath: string;
}

function cli(args: string[], input = ''): void {
  const r = spawnSync(process.execPath, [MAIN_JS, ...args], { cwd: repoRoot, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keyward ${args[0]} failed: ${r.stderr}`);
}

export function makeWorkspace(options: WorkspaceOptions): Workspace {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-bench-'));
  cli(['init', '--dir', dir]);
  const origin = options.upstream;
  const ttl = options.cacheTtlSeconds ?? 300;
  const credentials: Record<string, unknown> = {};
  const tools: Record<string, unknown> = {};
  const item = (credential: string, pathPrefix = '/items') => ({
    description: 'Get an item by id',
    permission: 'items:read',
    credential,
    request: { method: 'GET', url: `${origin}${pathPrefix}/{id}`, query: { size: '{size}' } },
    input: {
      type: 'object',
      properties: { id: { type: 'string' }, size: { type: 'string' } },
      required: ['id'],
    },
  });
  const backends: Record<string, unknown> = {
    local: { type: 'file', path: `${dir}/secrets.enc`, keyPath: `${dir}/master.key` },
  };
  const inject = { header: 'Authorization', format: 'Bearer {value}' };
  if (options.vault) {
    backends.vault = {
      type: 'vault',
      address: options.vault.url,
      auth: { method: 'token', token: { env: options.vault.tokenEnv } },
    };
    for (let k = 0; k < options.vault.keys; k++) {
      credentials[`vault${k}`] = {
        backend: 'vault',
        ref: `bench/key${k}`,
        field: 'token',
        inject,
        origins: [origin],
        cacheTtlSeconds: ttl,
      };
      tools[`get_item_v${k}`] = item(`vault${k}`);
    }
  }
  credentials.api = { backend: 'local', ref: 'api', inject, origins: [origin], cacheTtlSeconds: ttl };
  tools.get_item = item('api');
  tools.get_item_slow = { ...item('api', '/slow/items') };
  tools.admin_item = { ...item('api'), permission: 'admin:read' };
  const config = {
    agents: { local: { roles: ['reader'], tenant: 'default' } },
    identity: { stdio: { agent: 'local' } },
    backends,
    credentials,
    tools,
    policy: {
      hideUnusableTools: false,
      metaTools: false,
      rules: [
        { id: 'read', effect: 'allow', roles: ['reader'], permissions: ['items:read'] },
        { id: 'no-admin', effect: 'deny', permissions: ['admin:*'] },
      ],
    },
    audit: options.audit ?? { type: 'sqlite', path: `${dir}/audit.db` },
    grants: { store: 'memory', path: `${dir}/grants.db` },
    // One configured agent stands in for the 64 concurrent agents of the c64 and multi-session
    // scenarios: lift the per-principal fairness caps (issue 14), which would otherwise refuse them.
    // KW_BENCH_RESUMABLE=0: streams without an event store (the A/B of docs/performance.md).
    server: {
      http: {
        maxSessionsPerPrincipal: 1000,
        maxInFlightPerPrincipal: 1024,
        ...(process.env.KW_BENCH_RESUMABLE === '0' ? { streams: { resumable: false } } : {}),
      },
    },
    logging: { level: 'warn' },
  };
  const configPath = path.join(dir, 'tools.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  cli(['secrets', 'set', 'api', '--config', configPath], TOKEN);
  return { dir, configPath };
}

/** The benchmark-only switch: steps to turn off in the keyward process (never set in production). */
export function disableEnv(steps: readonly string[]): Record<string, string> {
  return steps.length ? { KEYWARD_BENCH_DISABLE: steps.join(',') } : {};
}

/**
 * The benchmark upstream on a free port and a keyward workspace pointing at it: the setup shared
 * by the A/B scripts (payload-ab, micro/sequential-cpu, micro/warmup-curve).
 */
export async function startBenchUpstream(): Promise<{ readonly up: Tracked; readonly ctx: TargetContext }> {
  const port = await freePort();
  const up = spawnTracked(process.execPath, [path.join(benchDir, 'servers/upstream.mjs')], {
    env: { UPSTREAM_PORT: String(port) },
  });
  await waitPort(port, 10_000, up);
  const upstream = `http://127.0.0.1:${port}`;
  return { up, ctx: { upstream, configPath: makeWorkspace({ upstream }).configPath } };
}
