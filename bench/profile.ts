/**
 * Profiles keyward (`node --cpu-prof`) under c16 load: `node --import tsx bench/profile.ts stdio|http
 * [calls] [bodyBytes] [concurrency]`; then bench/profile-summary.mjs <dir>. bodyBytes pads the upstream's
 * answer (the S5 payload sizes: 200, 20480, 204800; `''` for none); concurrency 1 profiles the
 * sequential path that the added p50 measures.
 */
import { StdioRpc, McpSession, HttpRpc } from './lib/drivers.js';
import { makeWorkspace, MAIN_JS } from './lib/keyward.js';
import { spawnTracked, freePort, waitPort, killAllChildren } from './lib/proc.js';
import { closedLoop } from './lib/load.js';
import { Pool } from 'undici';
const mode = process.argv[2] ?? 'stdio';
const up = await freePort();
const upp = spawnTracked(process.execPath, [new URL('./servers/upstream.mjs', import.meta.url).pathname], {
  env: { UPSTREAM_PORT: String(up) },
});
await waitPort(up);
const ws = makeWorkspace({ upstream: `http://127.0.0.1:${up}` });
const dir = process.env.KEYWARD_PROF_DIR ?? `/tmp/keyward-prof/${mode}`;
let s: McpSession;
let close: () => Promise<void>;
if (mode === 'stdio') {
  const rpc = new StdioRpc(process.execPath, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    MAIN_JS,
    'serve',
    '--config',
    ws.configPath,
  ]);
  s = new McpSession(rpc);
  close = () => rpc.close();
} else {
  const port = await freePort();
  const p = spawnTracked(process.execPath, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    MAIN_JS,
    'serve',
    '--http',
    '--port',
    String(port),
    '--config',
    ws.configPath,
  ]);
  await waitPort(port, 20000, p);
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
  s = new McpSession(new HttpRpc(pool));
  close = async () => {
    await p.kill();
  };
}
await s.initialize();
const size = process.argv[4] || undefined;
const r = await closedLoop(
  (k) => s.callItem('get_item', String(k), size === undefined ? {} : { size }),
  Number(process.argv[3] ?? 6000),
  Number(process.argv[5] ?? 16),
);
console.error(r.callsPerSec, r.errors, r.firstError);
await close();
await upp.kill();
killAllChildren();
