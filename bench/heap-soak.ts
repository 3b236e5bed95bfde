/**
 * Memory over the HTTP soak (issue 18): is RSS growth heap sizing or retention?
 * `node --import tsx bench/heap-soak.ts [N] [outDir]` starts the upstream and keyward on Streamable
 * HTTP (the bench workspace, one MCP session, c16 like S11), takes a heap snapshot (SIGUSR2,
 * `--heapsnapshot-signal`) after N calls and another after 10·N calls, and logs
 * process.memoryUsage() once a second (bench/servers/memory-probe.mjs) to outDir/memory.jsonl.
 * Compare the snapshots with `node bench/heap-diff.mjs A.heapsnapshot B.heapsnapshot`.
 * A snapshot costs the process a few hundred MiB of RSS that stays mapped, so the RSS curve is
 * read from a run without them: a third argument `nosnap` skips the snapshots. KEYWARD_NODE_FLAGS
 * adds V8 flags to the server (e.g. `--max-semi-space-size=1` to show what the young generation's
 * size does to RSS); KEYWARD_BENCH_MAIN selects another build.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Pool } from 'undici';
import { HttpRpc, McpSession } from './lib/drivers.js';
import { MAIN_JS, makeWorkspace } from './lib/keyward.js';
import { closedLoop } from './lib/load.js';
import { freePort, killAllChildren, rssBytes, spawnTracked, waitPort } from './lib/proc.js';

const n = Number(process.argv[2] ?? 10_000);
const outDir = path.resolve(process.argv[3] ?? '/tmp/keyward-heap');
mkdirSync(outDir, { recursive: true });
const snapshotsOn = process.argv[4] !== 'nosnap';
const probeFile = path.join(outDir, 'memory.jsonl');
const nodeFlags = (process.env.KEYWARD_NODE_FLAGS ?? '').split(' ').filter((f) => f.length > 0);

const up = await freePort();
const upstream = spawnTracked(
  process.execPath,
  [new URL('./servers/upstream.mjs', import.meta.url).pathname],
  {
    env: { UPSTREAM_PORT: String(up) },
  },
);
await waitPort(up);
const ws = makeWorkspace({ upstream: `http://127.0.0.1:${up}` });
const port = await freePort();
const server = spawnTracked(
  process.execPath,
  [
    ...nodeFlags,
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${outDir}`,
    '--import',
    new URL('./servers/memory-probe.mjs', import.meta.url).pathname,
    MAIN_JS,
    'serve',
    '--http',
    '--port',
    String(port),
    '--config',
    ws.configPath,
  ],
  { env: { MEMORY_PROBE_FILE: probeFile } },
);
await waitPort(port, 20_000, server);
const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
const session = new McpSession(new HttpRpc(pool));
await session.initialize();

const snapshots = (): string[] => readdirSync(outDir).filter((f) => f.endsWith('.heapsnapshot'));
async function snapshot(label: string): Promise<void> {
  if (!snapshotsOn) {
    console.log(`${label}: RSS ${(rssBytes(server.pid) / 2 ** 20).toFixed(1)} MiB`);
    return;
  }
  const before = snapshots().length;
  server.child.kill('SIGUSR2');
  // The snapshot is written synchronously on the main thread: once a call answers, it is complete.
  while (snapshots().length === before) await new Promise((r) => setTimeout(r, 100));
  // Keep-alive timers that fired while the loop was blocked may reset pooled connections: retry.
  for (let attempt = 0; ; attempt++) {
    try {
      await session.callItem('get_item', 'after-snapshot');
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  const file = snapshots().sort(
    (a, b) => statSync(path.join(outDir, b)).mtimeMs - statSync(path.join(outDir, a)).mtimeMs,
  )[0]!;
  console.log(`${label}: ${file} (RSS ${(rssBytes(server.pid) / 2 ** 20).toFixed(1)} MiB)`);
}

let done = 0;
let bad = 0;
async function run(total: number): Promise<void> {
  while (done < total) {
    const r = await closedLoop(
      (k) => session.callItem('get_item', String(k)),
      Math.min(1000, total - done),
      16,
      done,
    );
    done += r.n;
    bad += r.errors + r.wrong;
  }
}
await run(n);
await snapshot(`after ${n} calls`);
await run(10 * n);
await snapshot(`after ${10 * n} calls`);
console.log(`${done} calls, ${bad} errors or wrong answers`);
const lines = readFileSync(probeFile, 'utf8').trim().split('\n');
console.log(`memory samples: ${lines.length} in ${probeFile}`);
await pool.close();
await server.kill();
await upstream.kill();
killAllChildren();
