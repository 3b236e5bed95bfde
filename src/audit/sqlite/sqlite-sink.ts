/**
 * The default audit sink: an append-only SQLite table (WAL), one hash chain per writer.
 *
 * An append is recorded when its chained record is written to the sink's write-ahead journal (no
 * SQLite on the call path; the first append of a loop turn is written at once, the later appends of
 * that turn share one `write()` at its end); the records of each 10 ms are then inserted into SQLite
 * in one transaction, off the call path. While SQLite cannot take them, new appends are refused (fail closed)
 * and the journaled ones wait, in order, to be committed once it can, or are replayed from the
 * journal by the next sink that opens the database if this process dies first.
 */
import { closeSync, chmodSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { AuditQuery, AuditRecord, AuditSink, VerifyReport } from '../audit-sink.js';
import { KeywardError } from '../../core/errors.js';
import { ChainVerifier, WriterChain, timeMs, type ChainedRecord } from '../hash-chain.js';
import { GROUP_COMMIT_DEFAULTS } from '../group-commit.js';
import { queryTimeRange, recordFromRow } from '../record-row.js';
import { WriteAheadJournal, orphanJournals, readJournal } from './write-ahead-journal.js';
import { ChainAnchor, type AnchorOptions } from '../checkpoints.js';

export interface SqliteSinkOptions {
  readonly path: string;
  readonly logger: Logger;
  /** SQLITE_BUSY wait (ms): how long a write waits for another connection's lock. */
  readonly writeTimeoutMs?: number;
  /** Journaled records not yet in SQLite above which `append` refuses (fail closed). */
  readonly maxPending?: number;
  /** Writer id of this instance's chain (tests); random by default. */
  readonly writer?: string;
  /** Keyed chain and checkpoints outside the database (checkpoints.ts). */
  readonly anchor?: AnchorOptions;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  writer TEXT NOT NULL,
  seq INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  time_ms INTEGER,
  type TEXT NOT NULL,
  agent TEXT,
  tenant TEXT,
  tool TEXT,
  decision TEXT,
  request_id TEXT,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_writer_seq ON audit_events (writer, seq, id);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time_ms);
-- Only two secondary indexes: every index adds a page to each commit's WAL frames, and the call
-- path commits once per record when calls are sequential. Filtered queries (ORDER BY id DESC
-- LIMIT n) scan back from the newest row instead. Stores created with more indexes shed them.
DROP INDEX IF EXISTS audit_events_agent;
DROP INDEX IF EXISTS audit_events_tenant;
DROP INDEX IF EXISTS audit_events_tool;
DROP INDEX IF EXISTS audit_events_request;
CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
`;

const COLUMNS =
  'id, writer, seq, prev_hash, hash, time_ms, type, agent, tenant, tool, decision, request_id, record';

interface Row {
  id: number;
  writer: string;
  seq: number;
  prev_hash: string;
  hash: string;
  time_ms: number | null;
  type: string;
  agent: string | null;
  tenant: string | null;
  tool: string | null;
  decision: string | null;
  request_id: string | null;
  record: string;
}

type InsertParams = [string, number, string, string, number | null, string, ...(string | null)[]];

/** One record as stored: chain fields, hash, verbatim body and the fields the columns copy. */
interface StoredRecord {
  readonly writer: string;
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly body: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

interface OpenDb {
  readonly db: Database.Database;
  readonly ino: number;
  readonly insertBatch: (rows: readonly StoredRecord[]) => void;
  readonly exists: Database.Statement<[string, number], unknown>;
  /** Set once a rolled-back write succeeded on this connection (see `checkWritable`). */
  writable: boolean;
  readonly tail: Database.Statement<[number], Row>;
  readonly queries: Map<string, Database.Statement<unknown[], Row>>;
}

interface GroupedAppend {
  readonly event: AuditEvent;
  resolve(): void;
  reject(error: Error): void;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

const RESOLVED = Promise.resolve();
/**
 * How long journaled records wait before their batched insert. Measured on Streamable HTTP: an
 * insert on the next loop turn (setImmediate) lands inside the following call and costs ~0.5 ms
 * of p50 on a busy 2-core machine; one transaction every 10 ms stays between calls and batches
 * sequential calls too. The wait costs no durability (the journal is the durability point).
 */
const COMMIT_DELAY_MS = 10;
/** Largest number of records inserted in one SQLite transaction. */
const MAX_BATCH = 1_000;
/** A failed commit that took longer than this (a lock wait) is retried from the call path at most this often. */
const SLOW_FAILURE_MS = 20;
const RETRY_MS = 500;

function unavailable(message: string, cause?: unknown): KeywardError {
  const detail = cause === undefined ? undefined : describe(cause);
  return new KeywardError('audit_unavailable', message, { detail, cause });
}

function storedFromChained(r: ChainedRecord): StoredRecord {
  return {
    writer: r.writer,
    seq: r.seq,
    prevHash: r.prevHash,
    hash: r.hash,
    body: r.body,
    fields: r.event as unknown as Record<string, unknown>,
  };
}

export class SqliteAuditSink implements AuditSink {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly chain: WriterChain;
  private readonly anchor: ChainAnchor;
  private readonly journal: WriteAheadJournal;
  private readonly busyTimeoutMs: number;
  private readonly maxPending: number;
  private readonly logger: Logger;
  private open: OpenDb | undefined;
  private lastOpenError: string | undefined;
  private closed = false;
  /** Journaled records not yet committed to SQLite, in chain order. */
  private queue: StoredRecord[] = [];
  /** The batched insert of the records queued since the last one (COMMIT_DELAY_MS after the first). */
  private commitTimer: NodeJS.Timeout | undefined;
  /** Admitted events of this loop turn, not chained or journaled yet (see `append`). */
  private group: GroupedAppend[] = [];
  /** True from a turn's first append until the end of that turn (setImmediate). */
  private turnOpen = false;
  /** Set while SQLite cannot take records: appends are refused until a commit succeeds again. */
  private failure: { readonly message: string; readonly at: number; readonly slow: boolean } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(options: SqliteSinkOptions) {
    this.path = path.resolve(options.path);
    this.logger = options.logger;
    this.busyTimeoutMs = options.writeTimeoutMs ?? DEFAULTS.audit.writeTimeoutMs;
    this.maxPending = options.maxPending ?? GROUP_COMMIT_DEFAULTS.maxPending;
    this.anchor = new ChainAnchor(options.anchor ?? {}, options.logger, () => ({
      writer: this.chain.writer,
      seq: this.chain.lastSeq,
      hash: this.chain.lastHash,
    }));
    this.chain = new WriterChain(options.writer, this.anchor.hasher);
    this.journal = new WriteAheadJournal(this.path);
    try {
      this.ensureOpen();
    } catch (error) {
      // Fail closed per call instead of at construction: append rejects, probe reports, the next append retries.
      this.logger.error({ err: this.lastOpenError, path: this.path }, 'audit database cannot be opened');
      this.failure = { message: describe(error), at: 0, slow: false };
    }
  }

  /** This instance's writer id. */
  get writer(): string {
    return this.chain.writer;
  }

  /**
   * Resolves once the event's chained record is in the journal. The events appended in one loop
   * turn are chained and journaled together at the end of the turn (one `write()`: group append);
   * a call waits only for its own turn's write, and every check that can refuse it runs now.
   */
  append(event: AuditEvent): Promise<void> {
    try {
      this.admit();
    } catch (error) {
      return Promise.reject(
        error instanceof KeywardError
          ? error
          : unavailable('the audit store could not record the event', error),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.group.push({ event, resolve, reject });
      if (!this.turnOpen) {
        // The first append of a turn is written at once, so a call made alone (sequential calls)
        // never waits for the turn to end; the appends that follow in the same turn (concurrent
        // calls) are written together at its end.
        this.turnOpen = true;
        setImmediate(this.endOfTurn);
        this.writeGroup();
      } else if (this.group.length >= MAX_BATCH) {
        // A caller that never yields to the event loop (a replay loop) writes a full group itself.
        this.writeGroup();
      }
    });
  }

  /** Commits every journaled record to SQLite now; rejects when SQLite cannot take them. */
  flush(): Promise<void> {
    this.writeGroup();
    if (this.commitQueued()) return RESOLVED;
    return Promise.reject(unavailable('the audit store could not record the event', this.failure?.message));
  }

  /** Records not yet committed to SQLite (they are in the journal). */
  get pending(): number {
    return this.queue.length + this.group.length;
  }

  async tail(limit: number): Promise<AuditRecord[]> {
    this.writeGroup();
    this.commitQueued();
    const { tail } = this.ensureOpen();
    return tail
      .all(Math.max(0, Math.floor(limit)))
      .reverse()
      .map(toRecord);
  }

  async query(query: AuditQuery): Promise<AuditRecord[]> {
    this.writeGroup();
    this.commitQueued();
    const open = this.ensureOpen();
    const where: string[] = [];
    const params: unknown[] = [];
    const filters: [keyof AuditQuery, string][] = [
      ['agent', 'agent'],
      ['tenant', 'tenant'],
      ['tool', 'tool'],
      ['requestId', 'request_id'],
      ['type', 'type'],
      ['decision', 'decision'],
    ];
    for (const [key, column] of filters) {
      const value = query[key];
      if (value !== undefined) {
        where.push(`${column} = ?`);
        params.push(value);
      }
    }
    const { sinceMs, untilMs } = queryTimeRange(query);
    if (sinceMs !== undefined) {
      where.push('time_ms >= ?');
      params.push(sinceMs);
    }
    if (untilMs !== undefined) {
      where.push('time_ms < ?');
      params.push(untilMs);
    }
    params.push(Math.max(0, Math.floor(query.limit ?? 1000)));
    const sql = `SELECT ${COLUMNS} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    let stmt = open.queries.get(sql);
    if (!stmt) {
      stmt = open.db.prepare<unknown[], Row>(sql);
      open.queries.set(sql, stmt);
    }
    return stmt
      .all(...params)
      .reverse()
      .map(toRecord);
  }

  async verify(): Promise<VerifyReport> {
    this.writeGroup();
    this.commitQueued();
    const { db } = this.ensureOpen();
    const verifier = new ChainVerifier(this.anchor.verifierOptions());
    const stmt = db.prepare<[], Row>(`SELECT ${COLUMNS} FROM audit_events ORDER BY writer, seq, id`);
    for (const row of stmt.iterate()) {
      verifier.add({
        writer: row.writer,
        seq: row.seq,
        prevHash: row.prev_hash,
        hash: row.hash,
        body: row.record,
        columns: {
          time: row.time_ms,
          type: row.type,
          agent: row.agent,
          tenant: row.tenant,
          tool: row.tool,
          decision: row.decision,
          requestId: row.request_id,
        },
      });
    }
    return verifier.report();
  }

  async probe(): Promise<{ ok: boolean; message: string }> {
    try {
      const { db } = this.ensureOpen();
      this.checkFile();
      writeProbe(db);
      return { ok: true, message: `sqlite audit store ${this.path} is writable` };
    } catch (error) {
      return { ok: false, message: `sqlite audit store ${this.path} is not writable: ${describe(error)}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.writeGroup();
    if (this.commitQueued()) {
      this.anchor.close();
      this.journal.remove();
    } else {
      this.anchor.close();
      this.journal.close();
      this.logger.error(
        { records: this.queue.length, journal: this.journal.file, err: this.failure?.message },
        'audit records not in the database yet stay in the journal; the next start replays them',
      );
    }
    this.closeDb();
  }

  /** Throws (audit_unavailable) when an event cannot be recorded now. */
  private admit(): void {
    if (this.closed) throw unavailable('the audit trail is closed');
    if (this.failure !== undefined && !this.recover()) {
      throw unavailable('the audit store could not record the event', this.failure?.message);
    }
    if (this.open?.writable !== true && !this.checkWritable()) {
      throw unavailable('the audit store cannot be written', this.failure?.message);
    }
    if (this.queue.length + this.group.length >= this.maxPending) {
      throw unavailable(`the audit queue is full (${this.maxPending} events pending)`);
    }
  }

  private readonly endOfTurn = (): void => {
    this.turnOpen = false;
    this.writeGroup();
  };

  /**
   * Chains the admitted events, journals them in one write and queues them for SQLite; then settles
   * their appends. A failed write rejects them all and leaves the chain and the journal as they were.
   */
  private writeGroup(): void {
    const group = this.group;
    if (group.length === 0) return;
    this.group = [];
    const records = this.chain.build(group.map((g) => g.event));
    try {
      this.journal.append(records.map((r) => r.body).join('\n'));
    } catch (error) {
      this.logger.error({ err: describe(error), journal: this.journal.file }, 'audit journal write failed');
      const refused = unavailable('the audit journal cannot be written', error);
      for (const g of group) g.reject(refused);
      return;
    }
    this.chain.advance(records);
    this.anchor.appended();
    for (const r of records) this.queue.push(storedFromChained(r));
    for (const g of group) g.resolve();
    // A caller that never yields to the event loop drains a full batch itself.
    if (this.queue.length >= MAX_BATCH) {
      this.commitQueued();
      return;
    }
    this.commitTimer ??= setTimeout(() => {
      this.commitTimer = undefined;
      this.commitQueued();
    }, COMMIT_DELAY_MS);
  }

  /**
   * Once per connection, before the first record is journaled: a store that opens but cannot be
   * written (read-only file or directory) must refuse the call, not accept a record it cannot keep.
   */
  private checkWritable(): boolean {
    try {
      const open = this.ensureOpen();
      writeProbe(open.db);
      open.writable = true;
      return true;
    } catch (error) {
      this.failure = { message: describe(error), at: performance.now(), slow: false };
      return false;
    }
  }

  /** A retry from the call path: at once after a fast failure, at most every RETRY_MS after a lock wait. */
  private recover(): boolean {
    const failure = this.failure;
    if (failure === undefined) return true;
    if (failure.slow && performance.now() - failure.at < RETRY_MS) return false;
    return this.commitQueued();
  }

  /**
   * Inserts the queued records into SQLite, oldest first, in batches. Returns true when nothing is
   * left; on failure keeps the rest queued, marks the store failing and arms a retry.
   */
  private commitQueued(): boolean {
    const started = performance.now();
    try {
      const open = this.ensureOpen();
      this.checkFile();
      while (this.queue.length > 0) {
        const batch = this.queue.length <= MAX_BATCH ? this.queue : this.queue.slice(0, MAX_BATCH);
        open.insertBatch(batch);
        this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
      }
    } catch (error) {
      const message = describe(error);
      if (this.failure === undefined) {
        this.logger.error(
          { err: message, pending: this.queue.length, store: 'sqlite' },
          'audit write failed; new calls are refused until the store answers',
        );
      }
      this.failure = { message, at: performance.now(), slow: performance.now() - started > SLOW_FAILURE_MS };
      this.armRetry();
      return false;
    }
    // Everything is in: an insert still scheduled (a flush or a query came first) has nothing to do.
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (this.failure !== undefined) {
      this.failure = undefined;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.logger.info({ store: 'sqlite' }, 'audit store answers again');
    }
    try {
      this.journal.committed();
    } catch (error) {
      this.logger.warn({ err: describe(error) }, 'audit journal could not be truncated');
    }
    return true;
  }

  /** Retries journaled records in the background so they reach SQLite even when no call comes. */
  private armRetry(): void {
    if (this.retryTimer !== undefined || this.closed || this.queue.length === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.commitQueued()) this.armRetry();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  /** Inserts the records of journals whose process is gone and that are missing from the table. */
  private replayOrphans(open: Pick<OpenDb, 'exists' | 'insertBatch'>): void {
    for (const file of orphanJournals(this.path, this.journal.file)) {
      try {
        const lines = readJournal(file);
        const missing: StoredRecord[] = [];
        for (const { body, fields } of lines) {
          const { writer, seq, prevHash, type } = fields;
          if (typeof writer !== 'string' || typeof seq !== 'number' || typeof prevHash !== 'string') continue;
          if (typeof type !== 'string') continue;
          if (open.exists.get(writer, seq) !== undefined) continue;
          missing.push({ writer, seq, prevHash, hash: this.anchor.hasher(body), body, fields });
        }
        if (missing.length > 0) open.insertBatch(missing);
        rmSync(file, { force: true });
        if (missing.length > 0) {
          this.logger.warn(
            { journal: file, records: missing.length },
            'audit records of a stopped process replayed from its journal',
          );
        }
      } catch (error) {
        this.logger.error({ journal: file, err: describe(error) }, 'audit journal could not be replayed');
      }
    }
  }

  /** The file we opened must still be the file at the path: a removed or replaced db fails closed. */
  private checkFile(): void {
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (!st || st.ino !== this.open?.ino) {
      this.closeDb();
      // The journal was most likely removed with it: continue in a fresh one.
      this.journal.close();
      throw new Error('the audit database file was removed or replaced');
    }
  }

  private ensureOpen(): OpenDb {
    if (this.open) return this.open;
    if (this.closed) throw new Error('the audit sink is closed');
    try {
      this.open = this.openDb();
      this.lastOpenError = undefined;
      return this.open;
    } catch (error) {
      this.lastOpenError = describe(error);
      throw error;
    }
  }

  private openDb(): OpenDb {
    mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o700 });
    if (!existsSync(this.path)) closeSync(openSync(this.path, 'a', 0o600));
    const db = new Database(this.path, { timeout: this.busyTimeoutMs });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      for (const file of [this.path, `${this.path}-wal`, `${this.path}-shm`]) {
        try {
          chmodSync(file, 0o600);
        } catch {
          // Not ours to change (another user's store) or not created yet.
        }
      }
      const insert = db.prepare<InsertParams>(
        `INSERT INTO audit_events (writer, seq, prev_hash, hash, time_ms, type, agent, tenant, tool, decision, request_id, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const tx = db.transaction((rows: readonly StoredRecord[]) => {
        for (const r of rows) {
          const e = r.fields;
          insert.run(
            r.writer,
            r.seq,
            r.prevHash,
            r.hash,
            timeMs(e.time),
            String(e.type),
            str(e.agent),
            str(e.tenant),
            str(e.tool),
            str(e.decision),
            str(e.requestId),
            r.body,
          );
        }
      });
      const open = {
        db,
        insertBatch: (rows: readonly StoredRecord[]) => tx.immediate(rows),
        exists: db.prepare<[string, number], unknown>(
          'SELECT 1 FROM audit_events WHERE writer = ? AND seq = ? LIMIT 1',
        ),
        tail: db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM audit_events ORDER BY id DESC LIMIT ?`),
        queries: new Map<string, Database.Statement<unknown[], Row>>(),
      };
      this.replayOrphans(open);
      return { ...open, ino: statSync(this.path).ino, writable: false };
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private closeDb(): void {
    const open = this.open;
    this.open = undefined;
    if (!open) return;
    try {
      open.db.close();
    } catch (error) {
      this.logger.warn({ err: describe(error) }, 'closing the audit database failed');
    }
  }
}

/** A real, rolled back write: BEGIN IMMEDIATE alone succeeds on a database opened read-only. */
function writeProbe(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.pragma(`user_version = ${Number(version)}`);
  } finally {
    db.exec('ROLLBACK');
  }
}

function toRecord(row: Row): AuditRecord {
  return recordFromRow(row.record, row.hash, {
    writer: row.writer,
    seq: row.seq,
    prevHash: row.prev_hash,
    type: row.type,
    time: row.time_ms === null ? '' : new Date(row.time_ms).toISOString(),
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** Opens (creating if needed) the SQLite audit store at `path`. */
export function createSqliteSink(options: SqliteSinkOptions): SqliteAuditSink {
  return new SqliteAuditSink(options);
}
