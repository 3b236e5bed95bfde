/** Picks and builds the configured audit sink (sqlite by default, postgres in production). */
import type { KeywardConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULTS } from '../config/defaults.js';
import type { AuditSink } from './audit-sink.js';
import { createSqliteSink } from './sqlite/sqlite-sink.js';
import { parseCacheKey } from '../cache/redis/cache-crypto.js';
import { ConfigError } from '../core/errors.js';
import { readSecretSource } from '../secrets/bootstrap-value.js';
import type { AnchorOptions } from './checkpoints.js';

export interface AuditSinkDeps {
  readonly logger: Logger;
  /** Reserved for time-based behaviour; event times are set by the caller. */
  readonly clock: Clock;
  /** Where a `{ file }` chainKey is resolved. */
  readonly baseDir?: string;
}

/**
 * The chain key, read at start. A configured key that cannot be read is a configuration error
 * (fail closed): an unkeyed chain would silently weaken what the trail proves.
 */
export function readChainKey(config: KeywardConfig['audit'], baseDir: string): Buffer | undefined {
  if (config.chainKey === undefined) return undefined;
  try {
    return parseCacheKey(readSecretSource(config.chainKey, baseDir));
  } catch (error) {
    throw new ConfigError(`audit.chainKey: key unavailable: ${(error as Error).message}`);
  }
}

function anchorOf(config: KeywardConfig['audit'], deps: AuditSinkDeps): AnchorOptions {
  const chainKey = readChainKey(config, deps.baseDir ?? process.cwd());
  return {
    ...(chainKey === undefined ? {} : { chainKey }),
    ...(config.checkpoints === undefined ? {} : { checkpoints: config.checkpoints }),
    checkpointIntervalMs: config.checkpointIntervalSeconds * 1000,
  };
}

/**
 * Builds the sink for `config` (paths already resolved by the config loader). Never throws for an
 * unavailable store: the sink fails closed per call and `probe()` says why.
 */
export async function createAuditSink(
  config: KeywardConfig['audit'],
  deps: AuditSinkDeps,
): Promise<AuditSink> {
  switch (config.type) {
    case 'sqlite':
      return createSqliteSink({
        anchor: anchorOf(config, deps),
        path: config.path,
        logger: deps.logger,
        writeTimeoutMs: DEFAULTS.audit.writeTimeoutMs,
      });
    case 'postgres': {
      // Loaded only when configured (pg is a large share of a cold start).
      const { createPostgresSink } = await import('./postgres/postgres-sink.js');
      return createPostgresSink({
        anchor: anchorOf(config, deps),
        url: config.url,
        schema: config.schema,
        statementTimeoutMs: config.statementTimeoutMs,
        connectTimeoutMs: config.connectTimeoutMs,
        logger: deps.logger,
        writeTimeoutMs: DEFAULTS.audit.writeTimeoutMs,
      });
    }
  }
}
