/** The config of the grant stores (`grants`): which GrantStore kind, and the SQLite file. */
import { z } from 'zod';

/** Part of `DEFAULTS.grants`. */
export const GRANT_STORE_DEFAULTS = { store: 'sqlite', sqlitePath: '~/.keyward/grants.db' } as const;

export const grantsSchema = z
  .object({
    store: z
      .enum(['sqlite', 'memory', 'redis'])
      .default(GRANT_STORE_DEFAULTS.store)
      .describe(
        "`sqlite` shares grants and approvals with `keyward grants` in another process; `memory` (tests); `redis` (shares the cache's Redis, needs `cache.encryptionKey`)",
      ),
    path: z.string().default(GRANT_STORE_DEFAULTS.sqlitePath).describe('the SQLite file (store `sqlite`)'),
  })
  .strict()
  .prefault({})
  .describe('where grants and pending approvals live');
