/**
 * Remote mode composition: gateway + metrics observer + principal resolver + HTTP server, with the
 * bind-safety check and graceful shutdown (stop accepting, drain in-flight calls, close sessions,
 * flush the audit). Used by `keyward serve --http` and by the e2e tests.
 */
import type { LoadedConfig } from '../config/load.js';
import { httpServeIssues } from '../config/http-bind.js';
import { httpServerSchema } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { createPrincipalResolver } from '../identity/principal-resolver.js';
import type { Logger, SecretRegistry } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { compose, type ComposeOptions } from '../server/compose.js';
import type { Gateway } from '../server/gateway.js';
import { shutdownGateway } from '../server/shutdown.js';
import { startHttpServer, type RunningHttpServer } from './http-server.js';

export interface HttpServiceOptions {
  readonly logger: Logger;
  readonly secrets: SecretRegistry;
  /** Overrides server.http.host / port from config. */
  readonly host?: string;
  readonly port?: number;
  readonly clock?: Clock;
  /** Composition overrides (tests). */
  readonly compose?: Partial<Pick<ComposeOptions, 'authorizer' | 'tracer' | 'env'>>;
  /** Export process metrics (off in tests that run several services in one process). */
  readonly processMetrics?: boolean;
}

export interface HttpService {
  readonly gateway: Gateway;
  readonly http: RunningHttpServer;
  readonly metrics: Metrics;
  /** Graceful shutdown; resolves once the audit trail is flushed and everything is closed. */
  shutdown(drainMs?: number): Promise<void>;
}

export async function startHttpService(
  loaded: LoadedConfig,
  options: HttpServiceOptions,
): Promise<HttpService> {
  const { config } = loaded;
  const http = httpServerSchema.parse({
    ...config.server.http,
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const logger = options.logger;
  const resolver = createPrincipalResolver({ config, baseDir: loaded.baseDir, logger });
  const bind = httpServeIssues(config, http.host).filter((i) => i.path === 'server.http.host');
  if (bind.length > 0) {
    throw new ConfigError(
      `refusing to listen on ${http.host} without authentication: configure identity.tokens or identity.jwt, or bind 127.0.0.1`,
      bind,
    );
  }
  if (!resolver.required) {
    logger.warn(
      { host: http.host },
      'serve --http without authentication: any local process (and any page a local browser opens) can call this server and spend the credentials it holds; configure identity.tokens or identity.jwt',
    );
  }
  const jwt = config.identity.jwt;
  if (jwt !== undefined && http.publicUrl !== undefined && jwt.audience !== http.publicUrl) {
    logger.warn(
      'identity.jwt.audience differs from server.http.publicUrl: tokens must name this server as audience',
    );
  }
  const metrics = new Metrics({
    processMetrics: options.processMetrics ?? true,
    // Tool names (hidden tools included) only for a scraper the operator authenticates, unless
    // the config says otherwise.
    toolNames: http.metricsToolNames ?? http.metricsToken !== undefined,
  });
  const { gateway } = await compose(loaded, {
    logger,
    secrets: options.secrets,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...options.compose,
    observer: metrics,
  });
  metrics.attach(gateway);
  let server: RunningHttpServer;
  try {
    server = await startHttpServer({
      gateway,
      resolver,
      logger,
      http,
      metrics,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  } catch (error) {
    await gateway.close();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    gateway,
    http: server,
    metrics,
    shutdown(drainMs?: number) {
      stopped ??= (async () => {
        server.stopAccepting();
        await shutdownGateway(gateway, logger, [() => server.closeSessions()], drainMs);
      })();
      return stopped;
    },
  };
}
