/**
 * Last-resort handlers for a serving process: an uncaught exception or unhandled rejection is
 * logged through the scrubbing logger (type and message only — never the raw error object, whose
 * fields may hold request headers) and the process exits 1 instead of printing a stack to stderr.
 */
import type { Logger } from './logger.js';

export function installCrashHandlers(logger: Logger): void {
  const die = (kind: string, error: unknown): void => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
    logger.fatal({ kind, err: message }, 'keyward crashed');
    process.exitCode = 1;
    // Let pino hand the line to stderr before exiting.
    setImmediate(() => process.exit(1));
  };
  process.on('uncaughtException', (error) => die('uncaughtException', error));
  process.on('unhandledRejection', (reason) => die('unhandledRejection', reason));
}
