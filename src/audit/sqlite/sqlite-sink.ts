/** The default audit sink: an append-only SQLite table (WAL), one hash chain per writer, group commit. */
import { closeSync, chmodSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { AuditQuery, AuditRecord, AuditSink, VerifyReport } from '../audit-sink.js';
import { ChainVerifier, WriterChain, timeMs, type ChainedRecord } from '../hash-chain.js';
import { GroupCommitter, type GroupCommitOptions } from '../group-commit.js';
import { queryTimeRange, recordFromRow } from '../record-row.js';

export interface SqliteSinkOptions {
  readonly path: string;
  readonly logger: Logger;
  /** Batch write timeout and SQLITE_BUSY wait (ms). */
  readonly writeTimeoutMs?: number;
  readonly maxPending?: number;
  /** Writer id of this instance's chain (tests); random by default. */
  readonly writer?: string;
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

interface OpenDb {
  readonly db: Database.Database;
  readonly ino: number;
  readonly insertBatch: (rows: readonly ChainedRecord[]) => void;
  readonly tail: Database.Statement<[number], Row>;
  readonly queries: Map<string, Database.Statement<unknown[], Row>>;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

export class SqliteAuditSink implements AuditSink {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly chain: WriterChain;
  private readonly committer: GroupCommitter<AuditEvent>;
  private readonly busyTimeoutMs: number;
  private readonly logger: Logger;
  private open: OpenDb | undefined;
  private lastOpenError: string | undefined;
  private closed = false;

  constructor(options: SqliteSinkOptions) {
    this.path = path.resolve(options.path);
    this.logger = options.logger;
    this.busyTimeoutMs = options.writeTimeoutMs ?? DEFAULTS.audit.writeTimeoutMs;
    this.chain = new WriterChain(options.writer);
    const commitOptions: GroupCommitOptions<AuditEvent> = {
      commit: (events) => this.commit(events),
      writeTimeoutMs: this.busyTimeoutMs,
      onFailure: (error, kind, size) =>
        this.logger.error(
          {
            err: error instanceof Error ? error.message : String(error),
            kind,
            events: size,
            store: 'sqlite',
          },
          'audit write failed',
        ),
    };
    if (options.maxPending !== undefined) commitOptions.maxPending = options.maxPending;
    this.committer = new GroupCommitter(commitOptions);
    try {
      this.ensureOpen();
    } catch (error) {
      // Fail closed per call instead of at construction: append rejects, probe reports, a later batch retries.
      this.logger.error({ err: this.lastOpenError, path: this.path }, 'audit database cannot be opened');
      void error;
    }
  }

  /** This instance's writer id. */
  get writer(): string {
    return this.chain.writer;
  }

  append(event: AuditEvent): Promise<void> {
    return this.committer.append(event);
  }

  flush(): Promise<void> {
    return this.committer.flush();
  }

  async tail(limit: number): Promise<AuditRecord[]> {
    const { tail } = this.ensureOpen();
    return tail
      .all(Math.max(0, Math.floor(limit)))
      .reverse()
      .map(toRecord);
  }

  async query(query: AuditQuery): Promise<AuditRecord[]> {
    const open = this.ensureOpen();
    const where: string[] = [];
    const params: unknown[] = [];
    const filters: [keyof AuditQuery, string][] = [
      ['agent', 'agent'],
      ['tenant', 'tenant'],
      ['tool', 'tool'],
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
    const { db } = this.ensureOpen();
    const verifier = new ChainVerifier();
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
      // A real (rolled back) write: BEGIN IMMEDIATE alone succeeds on a database opened read-only.
      const version = db.pragma('user_version', { simple: true }) as number;
      db.exec('BEGIN IMMEDIATE');
      try {
        db.pragma(`user_version = ${Number(version)}`);
      } finally {
        db.exec('ROLLBACK');
      }
      return { ok: true, message: `sqlite audit store ${this.path} is writable` };
    } catch (error) {
      return { ok: false, message: `sqlite audit store ${this.path} is not writable: ${describe(error)}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committer.close();
    this.closeDb();
  }

  private commit(events: readonly AuditEvent[]): void {
    const open = this.ensureOpen();
    this.checkFile();
    const records = this.chain.build(events);
    open.insertBatch(records);
    this.chain.advance(records);
  }

  /** The file we opened must still be the file at the path: a removed or replaced db fails closed. */
  private checkFile(): void {
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (!st || st.ino !== this.open?.ino) {
      this.closeDb();
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
      const tx = db.transaction((rows: readonly ChainedRecord[]) => {
        for (const r of rows) {
          const e = r.event;
          insert.run(
            r.writer,
            r.seq,
            r.prevHash,
            r.hash,
            timeMs(e.time),
            e.type,
            str(e.agent),
            str(e.tenant),
            str(e.tool),
            str(e.decision),
            str(e.requestId),
            r.body,
          );
        }
      });
      return {
        db,
        ino: statSync(this.path).ino,
        insertBatch: (rows) => tx.immediate(rows),
        tail: db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM audit_events ORDER BY id DESC LIMIT ?`),
        queries: new Map(),
      };
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
