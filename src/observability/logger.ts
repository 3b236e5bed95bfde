/**
 * Structured logs to stderr only (stdout belongs to the stdio transport), through pino.
 * Every line passes through the redactor: registered secret values are scrubbed in every encoding.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { scrubText } from '../upstream/redaction.js';

export type Logger = PinoLogger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Secret values that must never reach a log line; the pipeline registers each injected value. */
export class SecretRegistry {
  private readonly values = new Set<string>();
  add(value: string): void {
    if (value.length >= 4) this.values.add(value);
  }
  delete(value: string): void {
    this.values.delete(value);
  }
  snapshot(): readonly string[] {
    return [...this.values];
  }
  get size(): number {
    return this.values.size;
  }
}

/** A pino destination that scrubs known secrets from each serialized line before writing it to fd 2. */
function scrubbingStderr(registry: SecretRegistry): DestinationStream {
  return {
    write(line: string): void {
      const out = registry.size > 0 ? scrubText(line, registry.snapshot()) : line;
      process.stderr.write(out);
    },
  };
}

export function createLogger(level: LogLevel, registry: SecretRegistry = new SecretRegistry()): Logger {
  return pino(
    {
      level,
      base: { service: 'keyward' },
      redact: {
        paths: [
          'authorization',
          '*.authorization',
          'headers.authorization',
          'req.headers.authorization',
          'token',
          '*.token',
          'secret',
          '*.secret',
          'value',
          '*.value',
          'password',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    scrubbingStderr(registry),
  );
}

/** A logger that drops everything (tests, CLI commands that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
