/**
 * undici's `Pool` without the rest of undici. `import { Pool } from 'undici'` evaluates undici's
 * whole index: fetch, WebSocket, EventSource, the cache stores, the mock agents and every
 * interceptor (111 CommonJS files), about half of which keyward never uses; that was the largest
 * single library cost of `keyward serve`'s cold start after the MCP SDK (issue 18).
 *
 * This loads the dispatcher and the request API only and wires them the way undici's index.js
 * does (`Object.assign(Dispatcher.prototype, api)`), so `pool.request()` is the same function.
 * undici has no `exports` map, so these paths are public files of the package (typed in
 * undici-lib.d.ts); a unit test checks that this Pool is undici's own Pool class and that
 * `request` is its API, so an undici release that moves them fails the test rather than a call.
 * They are plain imports so that the published bundle carries them (scripts/bundle.mjs) instead
 * of Node's CommonJS loader resolving and reading ~30 files at every start.
 */
import type { Pool as UndiciPool } from 'undici';
import api from 'undici/lib/api/index.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import UndiciPoolClass from 'undici/lib/dispatcher/pool.js';

Object.assign(Dispatcher.prototype, api);

export const Pool = UndiciPoolClass;
export type Pool = UndiciPool;
