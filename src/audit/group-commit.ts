/**
 * Group commit: many concurrent `append`s share one transaction. A batch forms from everything
 * appended in the same tick or while the previous batch was committing; each caller's promise
 * settles with its batch. Bounded queue (fail closed when full) and a write timeout.
 */
import { KeywardError } from '../core/errors.js';

export interface GroupCommitOptions<T> {
  /** Writes one batch atomically. Called one batch at a time, never concurrently. */
  commit(batch: readonly T[]): Promise<void> | void;
  /** Pending items (queued + committing) above which `append` rejects at once. */
  maxPending?: number;
  /** Largest batch handed to `commit`. */
  maxBatch?: number;
  /** An item not committed this long after it was appended is rejected. */
  writeTimeoutMs?: number;
  /** Called with the cause when a batch fails or times out (for logs and alerts). */
  onFailure?(error: unknown, kind: 'failed' | 'timeout', size: number): void;
}

interface Pending<T> {
  readonly item: T;
  readonly at: number;
  resolve(): void;
  reject(error: Error): void;
}

export const GROUP_COMMIT_DEFAULTS = { maxPending: 10_000, maxBatch: 1_000, writeTimeoutMs: 2_000 } as const;

function unavailable(message: string, cause?: unknown): KeywardError {
  const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
  return new KeywardError('audit_unavailable', message, { detail, cause });
}

export class GroupCommitter<T> {
  private readonly maxPending: number;
  private readonly maxBatch: number;
  private readonly timeoutMs: number;
  private queue: Pending<T>[] = [];
  private inFlight = 0;
  private committing = false;
  private scheduled = false;
  /** Set while a timed-out commit has not settled yet: nothing new may start behind it. */
  private stalled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: GroupCommitOptions<T>) {
    this.maxPending = options.maxPending ?? GROUP_COMMIT_DEFAULTS.maxPending;
    this.maxBatch = options.maxBatch ?? GROUP_COMMIT_DEFAULTS.maxBatch;
    this.timeoutMs = options.writeTimeoutMs ?? GROUP_COMMIT_DEFAULTS.writeTimeoutMs;
  }

  /** Items queued or committing. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Resolves when the batch holding `item` is committed; rejects (audit_unavailable) otherwise. */
  append(item: T): Promise<void> {
    if (this.closed) return Promise.reject(unavailable('the audit trail is closed'));
    if (this.stalled) return Promise.reject(unavailable('the audit store is not answering'));
    if (this.pending >= this.maxPending) {
      return Promise.reject(unavailable(`the audit queue is full (${this.maxPending} events pending)`));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, at: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything appended so far has been committed or rejected. */
  flush(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new items, then waits for the queued ones. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.scheduled || this.committing) return;
    this.scheduled = true;
    // setImmediate: every append made by the I/O callbacks of this loop turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
        this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
        this.inFlight = batch.length;
        await this.commitBatch(batch);
        this.inFlight = 0;
      }
    } finally {
      this.committing = false;
      this.inFlight = 0;
      if (this.queue.length > 0) this.schedule();
      else this.notifyIdle();
    }
  }

  private async commitBatch(batch: Pending<T>[]): Promise<void> {
    const first = batch[0];
    if (!first) return;
    const remaining = first.at + this.timeoutMs - performance.now();
    if (remaining <= 0) {
      this.rejectAll(batch, unavailable('the audit write timed out'));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const commit = (async () => this.options.commit(batch.map((p) => p.item)))();
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), remaining);
    });
    let outcome: 'ok' | 'timeout' | { error: unknown };
    try {
      outcome = await Promise.race([commit.then(() => 'ok' as const), timeout]);
    } catch (error) {
      outcome = { error };
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'ok') {
      for (const p of batch) p.resolve();
      return;
    }
    if (outcome !== 'timeout') {
      this.options.onFailure?.(outcome.error, 'failed', batch.length);
      this.rejectAll(batch, unavailable('the audit store could not record the event', outcome.error));
      return;
    }
    // Timed out: fail the batch and everything queued behind it now, but start nothing new until
    // the hung commit settles, because the writer chain may or may not include it.
    this.options.onFailure?.(
      new Error(`audit write timed out after ${this.timeoutMs} ms`),
      'timeout',
      batch.length,
    );
    this.stalled = true;
    this.rejectAll(batch, unavailable('the audit write timed out'));
    const queued = this.queue;
    this.queue = [];
    this.rejectAll(queued, unavailable('the audit write timed out'));
    this.inFlight = 0;
    this.notifyIdle();
    try {
      await commit;
    } catch {
      // Already reported as a timeout.
    } finally {
      this.stalled = false;
    }
  }

  private rejectAll(batch: readonly Pending<T>[], error: KeywardError): void {
    for (const p of batch) p.reject(error);
  }

  private notifyIdle(): void {
    if (this.pending > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
