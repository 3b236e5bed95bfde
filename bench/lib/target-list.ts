/** The targets of the main interleaved rounds (full and quick). */
import type { TargetSpec } from './targets.js';

const STEPS = ['redact', 'audit', 'policy', 'credential-cache'] as const;

function keywardVariants(transport: 'stdio' | 'http', label: string): TargetSpec[] {
  return [
    { name: `keyward-${label}`, family: 'keyward', transport, desc: `keyward, ${label}, all steps on` },
    ...STEPS.map((step): TargetSpec => ({
      name: `keyward-${label}-no-${step}`,
      family: 'keyward',
      transport,
      disable: [step],
      desc: `keyward, ${label}, ${step} off (KEYWARD_BENCH_DISABLE)`,
    })),
  ];
}

/**
 * Opt-in A/B targets, interleaved with the others: KEYWARD_BENCH_BASELINE_MAIN=<another build's
 * dist/src/main.js> adds `keyward-stdio@baseline` and `keyward-http@baseline` (e.g. the commit
 * before a change); KEYWARD_BENCH_OTEL=1 adds `keyward-stdio-otel` and
 * `keyward-http-otel` (tracing on, every span exported to the benchmark upstream's /v1/traces).
 */
function abTargets(env: NodeJS.ProcessEnv = process.env): TargetSpec[] {
  const out: TargetSpec[] = [];
  const baseline = env.KEYWARD_BENCH_BASELINE_MAIN;
  if (baseline !== undefined && baseline !== '') {
    for (const transport of ['stdio', 'http'] as const) {
      out.push({
        name: `keyward-${transport}@baseline`,
        family: 'keyward',
        transport,
        main: baseline,
        desc: `keyward, ${transport}, the baseline build (${baseline})`,
      });
    }
  }
  const otel = env.KEYWARD_BENCH_OTEL;
  if (otel !== undefined && otel !== '') {
    for (const transport of ['stdio', 'http'] as const) {
      out.push({
        name: `keyward-${transport}-otel`,
        family: 'keyward',
        transport,
        otel: true,
        desc: `keyward, ${transport}, tracing on (OTLP/HTTP to the upstream's /v1/traces)`,
      });
    }
  }
  return out;
}

export function mainTargets(quick: boolean): TargetSpec[] {
  return [...allTargets(quick), ...abTargets()];
}

function allTargets(quick: boolean): TargetSpec[] {
  const core: TargetSpec[] = [
    {
      name: 'direct-undici',
      family: 'direct',
      transport: 'none',
      desc: 'floor: undici.request, keep-alive pool',
    },
    {
      name: 'tutorial-stdio',
      family: 'tutorial',
      transport: 'stdio',
      desc: 'McpServer + registerTool + fetch, stdio',
    },
    {
      name: 'tutorial-http-json',
      family: 'tutorial',
      transport: 'http',
      json: true,
      desc: 'tutorial, Streamable HTTP (stateful, JSON answers), lean driver',
    },
    {
      name: 'tutorial-http-sse',
      family: 'tutorial',
      transport: 'http',
      desc: 'tutorial, Streamable HTTP (stateful, SSE answers), lean driver',
    },
    { name: 'handrolled-stdio', family: 'handrolled', transport: 'stdio', desc: 'no SDK, undici, stdio' },
    { name: 'keyward-stdio', family: 'keyward', transport: 'stdio', desc: 'keyward, stdio, all steps on' },
    {
      name: 'keyward-http',
      family: 'keyward',
      transport: 'http',
      desc: 'keyward, Streamable HTTP, all steps on',
    },
    {
      name: 'keyward-sse',
      family: 'keyward',
      transport: 'sse',
      desc: 'keyward, legacy HTTP+SSE, all steps on',
    },
  ];
  if (quick) return core;
  return [
    ...core,
    {
      name: 'handrolled-http',
      family: 'handrolled',
      transport: 'http',
      desc: 'no SDK, stateless JSON HTTP, lean driver',
    },
    {
      name: 'peer-stdio',
      family: 'peer',
      transport: 'stdio',
      desc: '@ivotoby/openapi-mcp-server 1.16.1, stdio',
    },
    ...keywardVariants('stdio', 'stdio').slice(1),
    ...keywardVariants('http', 'http').slice(1),
    {
      name: 'tutorial-http-json@sdk',
      family: 'tutorial',
      transport: 'http',
      json: true,
      driver: 'sdk',
      desc: 'tutorial, Streamable HTTP JSON, SDK Client driver',
    },
    {
      name: 'keyward-http@sdk',
      family: 'keyward',
      transport: 'http',
      driver: 'sdk',
      desc: 'keyward, Streamable HTTP, SDK Client driver',
    },
  ];
}
