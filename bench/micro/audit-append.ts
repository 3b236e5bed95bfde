/**
 * The SQLite audit sink alone, in process: this build's sink against a baseline build's, the two
 * audit writes of a call (`call.started`, then `call.completed` after a round trip to an echo
 * server in a child process standing in for the upstream, so both appends run in I/O callbacks as
 * in the server), `concurrency` calls in flight (one connection each), alternating batches in one
 * process so both builds see the same machine load. The 10 ms batched inserts run as they do in
 * the server (their CPU is counted). Reports CPU per call of this process (both appends and the
 * round trip, the same for both builds) per pair of batches: median and quartiles of the
 * differences; and the wall time per call (with concurrency 1, the mean latency of a call: both
 * appends and the round trip).
 *
 *   node --import tsx bench/micro/audit-append.ts <baseline>/dist/src [batches=30] [calls=2000] [concurrency=1]
 *   KEYWARD_MICRO_THIS=<dist/src>: another build in place of this one (A/A: the method's bias).
 *   KEYWARD_MICRO_CHAIN_KEY=1: both sinks with a keyed chain (HMAC) instead of SHA-256.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort, killAllChildren, repoRoot, spawnTracked, waitPort } from '../lib/proc.js';
import type * as SqliteModule from '../../src/audit/sqlite/sqlite-sink.js';
import type * as LoggerModule from '../../src/observability/logger.js';
import type { AuditEvent } from '../../src/core/types.js';

interface Build {
  readonly name: string;
  call(k: number, worker: number): Promise<void>;
  settle(): Promise<void>;
  close(): Promise<void>;
}

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-audit-micro-'));
const chainKey = process.env.KEYWARD_MICRO_CHAIN_KEY === '1' ? Buffer.alloc(32, 7) : undefined;

async function load(name: string, build: string, index: number): Promise<Build> {
  const { createSqliteSink } = (await import(`${build}/audit/sqlite/sqlite-sink.js`)) as typeof SqliteModule;
  const { silentLogger } = (await import(`${build}/observability/logger.js`)) as typeof LoggerModule;
  const db = path.join(dir, `audit-${index}.db`);
  const sink = createSqliteSink({
    path: db,
    logger: silentLogger(),
    anchor: {
      ...(chainKey === undefined ? {} : { chainKey }),
      checkpoints: `${db}.checkpoints`,
      checkpointIntervalMs: 60_000,
    },
  });
  const sockets = await Promise.all(Array.from({ length: concurrency }, () => connect()));
  return {
    name,
    async call(k, worker) {
      // The fields the call step sets on a bench call (src/server/steps/audit-call.ts).
      const base = {
        time: new Date().toISOString(),
        requestId: `req-${k}`,
        agent: 'local',
        tenant: 'default',
        tool: 'get_item',
        permission: 'items:read',
        decision: 'allow',
        ruleIds: ['allow-read'],
        origin: 'http://127.0.0.1:8080',
      };
      await sink.append({ type: 'call.started', ...base } as AuditEvent);
      await sockets[worker]!(k);
      await sink.append({
        type: 'call.completed',
        ...base,
        outcome: 'ok',
        latencyMs: 0.42,
        status: 200,
        keyId: 'bench_key',
        keyVersion: '1',
      } as AuditEvent);
    },
    settle: () => sink.flush(),
    close: () => sink.close(),
  };
}

/** One connection to the echo server: `(k) => round trip of one short line`. */
async function connect(): Promise<(k: number) => Promise<void>> {
  const socket = net.connect(echoPort, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let waiting: (() => void) | undefined;
  socket.on('data', () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  });
  return (k) =>
    new Promise<void>((resolve) => {
      waiting = resolve;
      socket.write(`${k}\n`);
    });
}

function quantile(sorted: readonly number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo);
}

process.on('exit', killAllChildren);
const echoPort = await freePort();
const echo = spawnTracked(process.execPath, [
  '-e',
  `require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); }).listen(${echoPort}, '127.0.0.1')`,
]);
await waitPort(echoPort, 10_000, echo);

const baselineDir = process.argv[2];
if (baselineDir === undefined)
  throw new Error('usage: audit-append.ts <baseline dist/src> [batches] [calls] [concurrency]');
const batches = Number(process.argv[3] ?? 30);
const calls = Number(process.argv[4] ?? 2000);
const concurrency = Number(process.argv[5] ?? 1);

const builds = [
  await load(
    'this build',
    path.resolve(process.env.KEYWARD_MICRO_THIS ?? path.join(repoRoot, 'dist/src')),
    0,
  ),
  await load('baseline', path.resolve(baselineDir), 1),
];

async function run(build: Build, n: number, offset: number): Promise<void> {
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < n) {
      const k = next++;
      await build.call(offset + k, w);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  // The batched insert of the last records belongs to this batch's cost.
  await new Promise((resolve) => setTimeout(resolve, 15));
  await build.settle();
}

for (const build of builds) await run(build, 1000, 0); // warm-up

const cpu: number[][] = [[], []];
const wall: number[][] = [[], []];
for (let b = 0; b < batches; b++) {
  const order = b % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(builds[i]!, calls, (b + 1) * calls);
    // The 15 ms wait for the last batched insert (run) is not part of a call.
    wall[i]!.push(((performance.now() - t0 - 15) * 1000) / calls);
    const c1 = process.cpuUsage(c0);
    cpu[i]!.push((c1.user + c1.system) / calls);
  }
}
for (const build of builds) await build.close();
rmSync(dir, { recursive: true, force: true });
await echo.kill();

const med = (s: number[]) =>
  quantile(
    [...s].sort((x, y) => x - y),
    0.5,
  );
const diff = cpu[0]!.map((v, i) => v - cpu[1]![i]!).sort((x, y) => x - y);
const wallDiff = wall[0]!.map((v, i) => v - wall[1]![i]!).sort((x, y) => x - y);
process.stdout.write(
  `${batches} batch pairs × ${calls} calls (2 appends and an echo round trip each), concurrency ${concurrency}${chainKey ? ', keyed chain' : ''}\n` +
    `audit CPU per call: this build ${med(cpu[0]!).toFixed(1)} µs, baseline ${med(cpu[1]!).toFixed(1)} µs; ` +
    `difference per batch pair: median ${quantile(diff, 0.5).toFixed(1)} µs ` +
    `(quartiles ${quantile(diff, 0.25).toFixed(1)} … ${quantile(diff, 0.75).toFixed(1)}); ` +
    `ratio of medians ${(med(cpu[0]!) / med(cpu[1]!)).toFixed(2)}\n` +
    `wall time per call: this build ${med(wall[0]!).toFixed(1)} µs, baseline ${med(wall[1]!).toFixed(1)} µs; ` +
    `difference per batch pair: median ${quantile(wallDiff, 0.5).toFixed(1)} µs ` +
    `(quartiles ${quantile(wallDiff, 0.25).toFixed(1)} … ${quantile(wallDiff, 0.75).toFixed(1)})\n`,
);
process.exit(0);
