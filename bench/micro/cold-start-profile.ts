/**
 * Profiles one cold start of the bundle (`node --cpu-prof`): spawn → initialize → first checked
 * result on stdio, with the S10 workspace; then `node bench/profile-summary.mjs <dir>`.
 *
 *   node --import tsx bench/micro/cold-start-profile.ts [<dir>=/tmp/keyward-prof/cold] [<main>=dist/bin/keyward.js]
 */
import { BIN_JS, makeWorkspace } from '../lib/keyward.js';
import { McpSession, StdioRpc } from '../lib/drivers.js';
import { freePort, killAllChildren, spawnTracked, waitPort } from '../lib/proc.js';

const dir = process.argv[2] ?? '/tmp/keyward-prof/cold';
const main = process.argv[3] ?? BIN_JS;
process.on('exit', killAllChildren);
const port = await freePort();
spawnTracked(process.execPath, ['bench/servers/upstream.mjs'], { env: { UPSTREAM_PORT: String(port) } });
await waitPort(port, 10_000);
const { configPath } = makeWorkspace({ upstream: `http://127.0.0.1:${port}` });
const t0 = performance.now();
const rpc = new StdioRpc(process.execPath, [
  '--cpu-prof',
  '--cpu-prof-interval=100',
  `--cpu-prof-dir=${dir}`,
  main,
  'serve',
  '--config',
  configPath,
]);
const session = new McpSession(rpc);
await session.initialize();
const outcome = await session.callItem('get_item', '1');
process.stderr.write(`first result ${outcome} after ${(performance.now() - t0).toFixed(0)} ms\n`);
await rpc.close();
process.exit(0);
