/**
 * The event store of one replica: each session's events in its transport's memory, bounded per
 * session and in all. Events never leave the process, so only this replica can serve a resume.
 */
import type { Clock } from '../../core/clock.js';
import type {
  EventStore,
  EventStoreLimits,
  SessionEventLog,
  SessionEventsRead,
  StoredEvent,
  StreamOwner,
} from './event-store.js';

interface Entry extends StoredEvent {
  readonly at: number;
  readonly size: number;
}

export interface MemoryEventStoreOptions extends EventStoreLimits {
  readonly clock: Clock;
  /** Bytes of events all sessions keep together. */
  readonly maxBytes: number;
}

export class MemoryEventStore implements EventStore {
  readonly shared = false;
  /** Bytes held by every session's log. */
  bytes = 0;
  /** Open logs, swept for expired events (an idle session's would otherwise count until it ends). */
  readonly logs = new Set<MemorySessionLog>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(readonly options: MemoryEventStoreOptions) {}

  openSession(_sessionId: string, _owner: StreamOwner): MemorySessionLog {
    const log = new MemorySessionLog(this);
    this.logs.add(log);
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(30_000, this.options.ttlMs));
      this.sweeper.unref();
    }
    return log;
  }

  /** Drops expired events of every open log. */
  sweep(): void {
    const now = this.options.clock.now();
    for (const log of this.logs) log.expire(now);
  }

  /** Another replica's session: never here. */
  async read(_sessionId: string, cursor: number): Promise<SessionEventsRead> {
    return { owner: undefined, events: [], cursor };
  }

  async close(): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

export class MemorySessionLog implements SessionEventLog {
  private entries: Entry[] = [];
  private head = 0;
  private bytes = 0;

  constructor(private readonly store: MemoryEventStore) {}

  append(stream: number, seq: number, data: string, final: boolean): boolean {
    const { clock, maxSessionBytes, maxBytes } = this.store.options;
    const now = clock.now();
    const size = data.length + 32;
    this.trim(now, 0);
    if (size > maxSessionBytes) return false;
    this.trim(now, size);
    if (this.store.bytes + size > maxBytes) return false;
    this.entries.push({ stream, seq, data, final, at: now, size });
    this.bytes += size;
    this.store.bytes += size;
    return true;
  }

  async eventsAfter(stream: number, afterSeq: number): Promise<StoredEvent[]> {
    const cutoff = this.store.options.clock.now() - this.store.options.ttlMs;
    const out: StoredEvent[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.stream === stream && e.seq > afterSeq && e.at >= cutoff) out.push(e);
    }
    return out;
  }

  async discard(): Promise<void> {
    this.release();
  }

  expire(now: number): void {
    this.trim(now, 0);
  }

  release(): void {
    this.store.logs.delete(this);
    this.store.bytes -= this.bytes;
    this.bytes = 0;
    this.entries = [];
    this.head = 0;
  }

  /** Drops expired events, then the oldest until `room` more bytes fit under the session cap. */
  private trim(now: number, room: number): void {
    const cutoff = now - this.store.options.ttlMs;
    const max = this.store.options.maxSessionBytes;
    while (this.head < this.entries.length) {
      const e = this.entries[this.head]!;
      if (e.at >= cutoff && this.bytes + room <= max) break;
      this.bytes -= e.size;
      this.store.bytes -= e.size;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
