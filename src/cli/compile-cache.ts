/**
 * Node's on-disk compile cache for keyward's own modules and its dependencies: `keyward serve`
 * compiles about 2 MB of JavaScript at every start, and with the cache a later start reads V8's
 * code cache instead. `module.enableCompileCache` exists on Node ≥ 22.1; on Node 20 this does
 * nothing. Node's own switches still apply (NODE_COMPILE_CACHE picks the directory,
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off).
 *
 * The directory is per user (`$XDG_CACHE_HOME/keyward/compile-cache`, else
 * `~/.cache/keyward/compile-cache`, created 0700) rather than Node's default under the shared
 * temporary directory, where another local user could plant code cache entries for keyward's files.
 * Any failure leaves the cache off: it only ever costs the start-up time it would have saved.
 */
import { mkdirSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';

type EnableCompileCache = (dir?: string) => unknown;

/** The cache directory for this user, or undefined when there is no usable home. */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'keyward', 'compile-cache');
  let home: string;
  try {
    home = homedir();
  } catch {
    return undefined;
  }
  return home === '' ? undefined : path.join(home, '.cache', 'keyward', 'compile-cache');
}

/** Turns the compile cache on where Node has one; returns whether it asked Node to. */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): boolean {
  const enable = (module as unknown as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
  if (typeof enable !== 'function') return false;
  if (env.NODE_DISABLE_COMPILE_CACHE !== undefined && env.NODE_DISABLE_COMPILE_CACHE !== '') return false;
  try {
    // NODE_COMPILE_CACHE: Node has already enabled it at start-up in that directory.
    if (env.NODE_COMPILE_CACHE !== undefined && env.NODE_COMPILE_CACHE !== '') return true;
    const dir = compileCacheDir(env);
    if (dir === undefined) return false;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    enable.call(module, dir);
    return true;
  } catch {
    return false;
  }
}
