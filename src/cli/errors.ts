/** How CLI commands report failures: one line (or the config issues) on stderr, exit 1, no stack. */
import { ConfigError, KeywardError } from '../core/errors.js';
import { formatConfigError } from '../config/load.js';
import { escapeUntrusted } from '../core/untrusted-text.js';

export function reportAndExit(error: unknown): never {
  // Messages may quote what an agent, upstream or store said: escaped for the terminal.
  if (error instanceof ConfigError) process.stderr.write(`${formatConfigError(error)}\n`);
  else if (error instanceof KeywardError)
    process.stderr.write(`error: ${error.code}: ${escapeUntrusted(error.message)}\n`);
  else if (error instanceof Error) process.stderr.write(`error: ${escapeUntrusted(error.message)}\n`);
  else process.stderr.write('error: unexpected failure\n');
  process.exit(1);
}

/** Wraps a command action so every failure goes through reportAndExit. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      reportAndExit(error);
    }
  };
}
