/**
 * The completion spool: when `call.completed` cannot be written after the upstream has already
 * acted, the event goes to a local append-only file (fsynced) instead of being lost, and is
 * replayed into the audit trail as soon as the sink accepts writes again (and at startup).
 * Events never hold a secret, so the spool does not either.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AuditEvent } from '../core/types.js';
import type { Logger } from '../observability/logger.js';
import type { AuditSink } from './audit-sink.js';

export class CompletionSpool {
  private pending: boolean;
  private replaying: Promise<void> | undefined;

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {
    this.pending = existsSync(file);
  }

  /** True when events wait in the spool. */
  get hasPending(): boolean {
    return this.pending;
  }

  /** Appends one event durably. Throws when the file cannot be written. */
  append(event: AuditEvent): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const fd = openSync(this.file, 'a', 0o600);
    try {
      appendFileSync(fd, `${JSON.stringify({ ...event, details: { ...event.details, spooled: true } })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.pending = true;
  }

  /**
   * Moves spooled events into the sink, oldest first. Events that fail stay spooled for the next
   * attempt. Concurrent callers share one replay.
   */
  replay(sink: AuditSink): Promise<void> {
    if (!this.pending) return Promise.resolve();
    this.replaying ??= this.replayOnce(sink).finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  private async replayOnce(sink: AuditSink): Promise<void> {
    const claimed = `${this.file}.replaying`;
    if (!existsSync(claimed)) {
      if (!existsSync(this.file)) {
        this.pending = false;
        return;
      }
      renameSync(this.file, claimed);
    }
    const lines = readFileSync(claimed, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    let done = 0;
    try {
      for (const line of lines) {
        await sink.append(JSON.parse(line) as AuditEvent);
        done++;
      }
    } catch (error) {
      // Put back what was not written; it is retried on the next replay.
      for (const line of lines.slice(done)) appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
      this.logger.warn(
        { replayed: done, left: lines.length - done, err: String(error) },
        'audit spool: replay paused',
      );
    }
    rmSync(claimed, { force: true });
    this.pending = existsSync(this.file);
    if (done > 0) this.logger.info({ replayed: done }, 'audit spool: completion records replayed');
  }
}

/** Where a sink's spool lives: beside the SQLite file, or under ~/.keyward for PostgreSQL. */
export function spoolPathFor(
  audit: { type: 'sqlite'; path: string } | { type: 'postgres'; schema: string },
  home: string,
): string {
  return audit.type === 'sqlite'
    ? `${audit.path}-spool.jsonl`
    : path.join(home, `audit-spool-${audit.schema}.jsonl`);
}
