/**
 * undici's `Pool` without the rest of undici. `import { Pool } from 'undici'` evaluates undici's
 * whole index: fetch, WebSocket, EventSource, the cache stores, the mock agents and every
 * interceptor (111 CommonJS files), most of which keyward never uses; that was the largest single
 * library cost of `keyward serve`'s cold start after the MCP SDK (issue 18).
 *
 * keyward drives the pool through `dispatch` (http-client.ts), which the dispatcher classes carry
 * themselves, so neither the index nor the request API (`request`, `stream`, `pipeline`…, which
 * undici's index.js adds to `Dispatcher.prototype`) is loaded. undici has no `exports` map, so
 * this path is a public file of the package (typed in undici-lib.d.ts); a unit test checks that
 * this Pool is undici's own Pool class, so an undici release that moves it fails the test rather
 * than a call. It is a plain import so that the published bundle carries it (scripts/bundle.mjs)
 * instead of Node's CommonJS loader resolving and reading its files at every start.
 */
import type { Pool as UndiciPool } from 'undici';
import UndiciPoolClass from 'undici/lib/dispatcher/pool.js';

/** The part of undici's Pool that keyward uses. */
export type Pool = Pick<UndiciPool, 'dispatch' | 'close'>;
export const Pool: new (...args: ConstructorParameters<typeof UndiciPool>) => Pool = UndiciPoolClass;
