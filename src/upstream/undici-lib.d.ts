/** The undici file src/upstream/undici-pool.ts loads (undici ships types for its index only). */
declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';
  const PoolClass: typeof Pool;
  export default PoolClass;
}
