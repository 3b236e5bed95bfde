/** The HTTP branch of `keyward serve --http`: runs remote mode until SIGINT/SIGTERM, then shuts down gracefully. */
import type { LoadedConfig } from '../../config/load.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger, SecretRegistry } from '../../observability/logger.js';
import { startHttpService } from '../../transports/serve-http.js';

export async function serveHttp(
  loaded: LoadedConfig,
  options: { host?: string; port?: string },
  logger: Logger,
  secrets: SecretRegistry,
): Promise<void> {
  let port: number | undefined;
  if (options.port !== undefined) {
    port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ConfigError(`--port ${options.port} is not a port`);
  }
  const service = await startHttpService(loaded, {
    logger,
    secrets,
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(port === undefined ? {} : { port }),
  });
  // One machine-readable line for scripts and tests (stderr: stdout stays free).
  process.stderr.write(`keyward: listening on ${service.http.baseUrl}/mcp\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason }, 'shutting down: draining in-flight calls');
      void service.shutdown().then(resolve, (error: unknown) => {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.exit(0);
}
