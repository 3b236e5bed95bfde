/** Shared bits of the scenarios: target shorthands and a measured phase. */
import { makeWorkspace, type WorkspaceOptions } from '../lib/keyward.js';
import type { PhaseResult } from '../lib/load.js';
import { delta, snap, type CpuDelta } from '../lib/proc.js';
import { startTarget, type Running, type TargetSpec } from '../lib/targets.js';
import type { ScenarioContext } from './scenario.js';

export const SPEC = {
  direct: { name: 'direct-undici', family: 'direct', transport: 'none', desc: 'floor' },
  keywardStdio: { name: 'keyward-stdio', family: 'keyward', transport: 'stdio', desc: 'keyward stdio' },
  keywardHttp: {
    name: 'keyward-http',
    family: 'keyward',
    transport: 'http',
    desc: 'keyward Streamable HTTP',
  },
  keywardSse: { name: 'keyward-sse', family: 'keyward', transport: 'sse', desc: 'keyward legacy SSE' },
  tutorialStdio: { name: 'tutorial-stdio', family: 'tutorial', transport: 'stdio', desc: 'tutorial stdio' },
  tutorialHttp: {
    name: 'tutorial-http-json',
    family: 'tutorial',
    transport: 'http',
    json: true,
    desc: 'tutorial HTTP',
  },
  handrolledStdio: {
    name: 'handrolled-stdio',
    family: 'handrolled',
    transport: 'stdio',
    desc: 'hand-rolled stdio',
  },
  peerStdio: { name: 'peer-stdio', family: 'peer', transport: 'stdio', desc: 'peer stdio' },
} satisfies Record<string, TargetSpec>;

const defaults = new Map<string, string>();

/** The config of a workspace: a fresh one for `ws`, else one default workspace per upstream. */
export function configFor(ctx: ScenarioContext, ws?: WorkspaceOptions): string {
  if (ws) return makeWorkspace(ws).configPath;
  let configPath = defaults.get(ctx.upstream);
  if (configPath === undefined) {
    configPath = makeWorkspace({ upstream: ctx.upstream }).configPath;
    defaults.set(ctx.upstream, configPath);
  }
  return configPath;
}

export async function start(
  ctx: ScenarioContext,
  spec: TargetSpec,
  ws?: WorkspaceOptions,
  env?: Record<string, string>,
): Promise<Running> {
  const configPath = configFor(ctx, ws);
  return startTarget(spec, { upstream: ctx.upstream, configPath, ...(env ? { env } : {}) });
}

export async function measured(
  t: Running,
  upPid: number,
  fn: () => Promise<PhaseResult>,
): Promise<PhaseResult & { cpu: CpuDelta; cpuPerCall: number }> {
  const a = snap(t.pids, upPid);
  const r = await fn();
  const cpu = delta(a, snap(t.pids, upPid));
  return { ...r, cpu, cpuPerCall: t.pids.length ? cpu.serverMs / r.n : NaN };
}

export async function withTarget<T>(t: Running, fn: (t: Running) => Promise<T>): Promise<T> {
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}
