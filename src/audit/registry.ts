/** Picks and builds the configured audit sink (sqlite by default, postgres in production). */
import type { KeywardConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULTS } from '../config/defaults.js';
import type { AuditSink } from './audit-sink.js';
import { createSqliteSink } from './sqlite/sqlite-sink.js';

export interface AuditSinkDeps {
  readonly logger: Logger;
  /** Reserved for time-based behaviour; event times are set by the caller. */
  readonly clock: Clock;
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
        path: config.path,
        logger: deps.logger,
        writeTimeoutMs: DEFAULTS.audit.writeTimeoutMs,
      });
    case 'postgres': {
      // Loaded only when configured (pg is a large share of a cold start).
      const { createPostgresSink } = await import('./postgres/postgres-sink.js');
      return createPostgresSink({
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
