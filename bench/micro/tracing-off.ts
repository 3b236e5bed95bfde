/**
 * The call path with tracing off, in process: this build's Gateway against a baseline build's
 * (e.g. the commit before tracing), alternating batches of sequential calls in one process to the
 * benchmark upstream, so both see the same machine load. Reports CPU and wall time per call, per
 * pair of batches (median and quartiles of the differences).
 *
 *   node --import tsx bench/micro/tracing-off.ts <baseline>/dist/src [batches=20] [calls=1000]
 *   KEYWARD_MICRO_OTEL=1: this build with tracing on (spans exported to the upstream's /v1/traces).
 *   KEYWARD_MICRO_THIS=<dist/src>: another build in place of this one (A/A: the method's bias).
 */
import path from 'node:path';
import { makeWorkspace } from '../lib/keyward.js';
import { freePort, killAllChildren, repoRoot, spawnTracked, waitPort } from '../lib/proc.js';
import type * as LoadModule from '../../src/config/load.js';
import type * as GatewayModule from '../../src/server/gateway.js';
import type * as LoggerModule from '../../src/observability/logger.js';
import type { Gateway as GatewayType } from '../../src/server/gateway.js';

interface Build {
  readonly name: string;
  call(k: number): Promise<unknown>;
  close(): Promise<void>;
}

async function load(name: string, dir: string, upstream: string): Promise<Build> {
  const { loadConfigFile } = (await import(`${dir}/config/load.js`)) as typeof LoadModule;
  const { principalFromConfig } = (await import(`${dir}/server/gateway.js`)) as typeof GatewayModule;
  const { silentLogger, SecretRegistry } = (await import(
    `${dir}/observability/logger.js`
  )) as typeof LoggerModule;
  const loaded = loadConfigFile(makeWorkspace({ upstream }).configPath);
  const deps = { logger: silentLogger(), secrets: new SecretRegistry() };
  // Builds from before the composition root (issue 13) had Gateway.create + server/plugins.js.
  let gateway: GatewayType;
  try {
    const { createGateway } = (await import(`${dir}/server/compose.js`)) as {
      createGateway: (l: unknown, d: unknown) => Promise<GatewayType>;
    };
    gateway = await createGateway(loaded, deps);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    const { Gateway } = (await import(`${dir}/server/gateway.js`)) as unknown as {
      Gateway: { create: (l: unknown, d: unknown) => Promise<GatewayType> };
    };
    const { gatewayPlugins } = (await import(`${dir}/server/plugins.js`)) as {
      gatewayPlugins: () => Record<string, unknown>;
    };
    gateway = await Gateway.create(loaded, { ...deps, ...gatewayPlugins() });
  }
  const principal = principalFromConfig(loaded.config, undefined);
  const options = { principal, sessionId: undefined, signal: undefined, elicitor: undefined };
  return {
    name,
    async call(k) {
      const result = await gateway.callTool('get_item', { id: String(k) }, options);
      if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.structuredContent)}`);
      return result;
    },
    close: () => gateway.close(),
  };
}

function quantile(sorted: readonly number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo);
}

const baselineDir = process.argv[2];
if (baselineDir === undefined) throw new Error('usage: tracing-off.ts <baseline dist/src> [batches] [calls]');
const batches = Number(process.argv[3] ?? 20);
const calls = Number(process.argv[4] ?? 1000);

process.on('exit', killAllChildren);
const port = await freePort();
const upstreamProc = spawnTracked(process.execPath, [path.join(repoRoot, 'bench/servers/upstream.mjs')], {
  env: { UPSTREAM_PORT: String(port) },
});
await waitPort(port, 10_000, upstreamProc);
const upstream = `http://127.0.0.1:${port}`;
// KEYWARD_MICRO_OTEL=1: this build traces every call, exported to the upstream's /v1/traces.
if (process.env.KEYWARD_MICRO_OTEL === '1') process.env.OTEL_EXPORTER_OTLP_ENDPOINT = upstream;
const builds = [
  // KEYWARD_MICRO_THIS=<dist/src> replaces this build (an A/A run measures the method's own bias).
  await load('this build', process.env.KEYWARD_MICRO_THIS ?? path.join(repoRoot, 'dist/src'), upstream),
  await load('baseline', path.resolve(baselineDir), upstream),
];
for (const build of builds) for (let k = 0; k < 500; k++) await build.call(k); // warm-up

const cpu: number[][] = [[], []];
const wall: number[][] = [[], []];
for (let b = 0; b < batches; b++) {
  // Alternate which build goes first.
  const order = b % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    const build = builds[i]!;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let k = 0; k < calls; k++) await build.call(k);
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    cpu[i]!.push((c1.user + c1.system) / calls);
    wall[i]!.push(((t1 - t0) * 1000) / calls);
  }
}
for (const build of builds) await build.close();
await upstreamProc.kill();

const report = (label: string, series: number[][]): void => {
  const diff = series[0]!.map((v, i) => v - series[1]![i]!).sort((x, y) => x - y);
  const med = (s: number[]) =>
    quantile(
      [...s].sort((x, y) => x - y),
      0.5,
    );
  process.stdout.write(
    `${label}: this build ${med(series[0]!).toFixed(1)} µs/call, baseline ${med(series[1]!).toFixed(1)} µs/call; ` +
      `difference per batch pair: median ${quantile(diff, 0.5).toFixed(1)} µs ` +
      `(quartiles ${quantile(diff, 0.25).toFixed(1)} … ${quantile(diff, 0.75).toFixed(1)})\n`,
  );
};
process.stdout.write(
  `${batches} batch pairs × ${calls} sequential calls (get_item, cache hit, sqlite audit)\n`,
);
report('keyward CPU (this process)', cpu);
report('wall', wall);
process.exit(0);
