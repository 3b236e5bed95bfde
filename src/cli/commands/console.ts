/**
 * `keyward console [--port P]`: the approval console on its own loopback server, for setups
 * without `serve --http` (an agent on stdio). It works on the same grant store and audit sink as
 * the server (SQLite files by default, or Redis/PostgreSQL), so an approval given here lets the
 * agent's waiting call or its retry go through. Set `console.publicUrl` to this address so the
 * stdio server's approval_required errors and alerts link here.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import express from 'express';
import { createAuditSink } from '../../audit/registry.js';
import { CONSOLE_PATH, createConsole } from '../../console/console-app.js';
import { browserGuard } from '../../transports/browser-guard.js';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { systemClock } from '../../core/clock.js';
import { ConfigError } from '../../core/errors.js';
import { createLogger } from '../../observability/logger.js';
import { createGrantStore } from '../../policy/grant-store-registry.js';
import { action } from '../errors.js';

interface ConsoleOptions {
  config?: string;
  port?: string;
}

const DEFAULT_PORT = 8788;

export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description(
      'serve the approval console on 127.0.0.1 (for stdio setups; serve --http has it at /console/)',
    )
    .option('-c, --config <file>', 'config file')
    .option('--port <port>', `port (default: the port of console.publicUrl, else ${DEFAULT_PORT})`)
    .action(action(runConsole));
}

async function runConsole(options: ConsoleOptions): Promise<void> {
  const { config, baseDir } = loadConfigFile(findConfigFile(options.config));
  if (config.console.operators.length === 0)
    throw new ConfigError(
      'no console.operators: create one with `keyward tokens create --operator NAME -c <config>`',
    );
  if (config.grants.store === 'memory')
    throw new ConfigError(
      'grants.store is "memory": grants live inside the server process; use sqlite or redis',
    );
  const publicUrl = config.console.publicUrl === undefined ? undefined : new URL(config.console.publicUrl);
  const port = Number(options.port ?? (publicUrl?.port || DEFAULT_PORT));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port ${options.port} is not a port`);

  const logger = createLogger(config.logging.level);
  const clock = systemClock;
  const grants = await createGrantStore({ config, logger, clock, baseDir });
  const audit = await createAuditSink(config.audit, { logger, clock, baseDir });

  const app = express();
  app.disable('x-powered-by');
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: operators elsewhere use `serve --http`, with TLS in front.
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const consoleUrl =
    config.console.publicUrl?.replace(/\/+$/, '') ?? `http://127.0.0.1:${bound}${CONSOLE_PATH}`;
  const guard = browserGuard(
    ['127.0.0.1', 'localhost', ...(publicUrl === undefined ? [] : [publicUrl.hostname])],
    [
      `http://127.0.0.1:${bound}`,
      `http://localhost:${bound}`,
      ...(publicUrl === undefined ? [] : [publicUrl.origin]),
    ],
  );
  app.use((req, res, next) => {
    const refused = guard.check(req);
    if (refused === undefined) return next();
    res.status(403).type('text').send(refused.message);
  });
  const router = createConsole({
    config,
    grants,
    audit,
    clock,
    logger,
    consoleUrl,
    isAllowedOrigin: guard.isAllowedOrigin,
  });
  if (router !== undefined) app.use(CONSOLE_PATH, router);
  app.get('/', (_req, res) => res.redirect(303, `${CONSOLE_PATH}/approvals`));
  process.stderr.write(`keyward: console on ${consoleUrl}/\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await grants.close();
  await audit.close();
}
