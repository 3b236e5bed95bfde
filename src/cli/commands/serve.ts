/** `keyward serve`: runs the MCP server over stdio (default) or HTTP, until a signal or stdin EOF. */
import type { Command } from 'commander';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { installCrashHandlers } from '../../observability/crash-handlers.js';
import { createLogger, SecretRegistry, type LogLevel } from '../../observability/logger.js';
import { compose } from '../../server/compose.js';
import { principalFromConfig } from '../../server/gateway.js';
import { shutdownGateway } from '../../server/shutdown.js';
import { startStdio } from '../../transports/stdio.js';
import { action } from '../errors.js';

interface ServeOptions {
  config?: string;
  agent?: string;
  logLevel?: LogLevel;
  http?: boolean;
  host?: string;
  port?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve MCP over stdio (logs go to stderr)')
    .option(
      '-c, --config <file>',
      'config file (default ./tools.config.json, then ~/.keyward/tools.config.json)',
    )
    .option('--agent <name>', 'the agent this stdio session acts as (default: identity.stdio.agent)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default: config logging.level)')
    .option('--http', 'serve Streamable HTTP (/mcp) and legacy SSE (/sse) instead of stdio')
    .option('--host <host>', 'HTTP bind address (default: server.http.host, 127.0.0.1)')
    .option('--port <port>', 'HTTP port (default: server.http.port, 8787)')
    .action(action(serve));
}

async function serve(options: ServeOptions): Promise<void> {
  const loaded = loadConfigFile(findConfigFile(options.config));
  const level =
    options.logLevel ??
    (process.env.KEYWARD_LOG_LEVEL as LogLevel | undefined) ??
    loaded.config.logging.level;
  const secrets = new SecretRegistry();
  const logger = createLogger(level, secrets);
  installCrashHandlers(logger);
  if (options.http) {
    // Remote mode (express, jose, prom-client) is loaded only for --http: stdio starts faster.
    const { serveHttp } = await import('./serve-http.js');
    await serveHttp(loaded, options, logger, secrets);
    return;
  }
  const principal = principalFromConfig(loaded.config, options.agent);
  const { gateway } = await compose(loaded, { logger, secrets });
  const stdio = await startStdio(gateway, principal, loaded.config.server.stdio);
  logger.info(
    { config: loaded.file, agent: principal.agent, tools: gateway.parts.tools.size },
    'keyward serving on stdio',
  );

  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    await shutdownGateway(gateway, logger, [() => stdio.close()]);
    // Pipes are asynchronous: let the last responses reach the client before exiting (unless the
    // client closed stdout: a write there would only fail again).
    if (stdio.outputOpen) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await stop(await stdio.closed);
}
