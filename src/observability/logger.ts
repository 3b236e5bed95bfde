/**
 * Structured logs to stderr only (stdout belongs to the stdio transport), through pino.
 * Every line passes through the redactor: registered secret values are scrubbed in every encoding.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { compileLogScrubber, type Redactor } from '../upstream/redaction.js';

export type Logger = PinoLogger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Values per compiled group of the scrubber. A log scrubber over every value ever registered was
 * compiled again, whole, at the first log line after each new value: a user's tokens refreshed
 * all day (or an API answering 401 to force a refresh per call) made that seconds of blocked event
 * loop per change after a few thousand tokens. A new value now recompiles its group only.
 */
const SCRUB_GROUP_SIZE = 32;

interface ScrubGroup {
  readonly values: Set<string>;
  scrubber: Redactor | undefined;
}

/** Secret values that must never reach a log line; the pipeline registers each injected value. */
export class SecretRegistry {
  private readonly groupOf = new Map<string, ScrubGroup>();
  private readonly groups: ScrubGroup[] = [];

  /** `compile` builds one group's scrubber (a parameter so that tests can count the work). */
  constructor(private readonly compile: (values: readonly string[]) => Redactor = compileLogScrubber) {}

  add(value: string): void {
    if (value.length < 4 || this.groupOf.has(value)) return;
    let group = this.groups.at(-1);
    if (group === undefined || group.values.size >= SCRUB_GROUP_SIZE) {
      group = { values: new Set(), scrubber: undefined };
      this.groups.push(group);
    }
    group.values.add(value);
    group.scrubber = undefined;
    this.groupOf.set(value, group);
  }

  delete(value: string): void {
    const group = this.groupOf.get(value);
    if (group === undefined) return;
    this.groupOf.delete(value);
    group.values.delete(value);
    group.scrubber = undefined;
    if (group.values.size === 0) this.groups.splice(this.groups.indexOf(group), 1);
  }

  /**
   * `text` with every registered value removed, group by group. A value that contains another
   * group's value loses that part first; what remains of it is removed as its own runs of
   * LOG_MIN_RUN (a remnant shorter than that stays, as any run that short does).
   */
  scrub(text: string): string {
    let out = text;
    for (const group of this.groups) out = (group.scrubber ??= this.compile([...group.values])).redact(out);
    return out;
  }

  snapshot(): readonly string[] {
    return [...this.groupOf.keys()];
  }

  get size(): number {
    return this.groupOf.size;
  }
}

/** A pino destination that scrubs known secrets from each serialized line before writing it to fd 2. */
function scrubbingStderr(registry: SecretRegistry): DestinationStream {
  return {
    write(line: string): void {
      process.stderr.write(registry.size > 0 ? registry.scrub(line) : line);
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
