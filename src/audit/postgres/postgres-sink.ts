/**
 * The production audit sink: an append-only PostgreSQL table shared by every replica, one hash
 * chain per writer, group commit (one multi-row INSERT per batch), bounded waits, fail closed.
 */
import pg from 'pg';
import type { AuditEvent } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { AuditQuery, AuditRecord, AuditSink, VerifyReport } from '../audit-sink.js';
import { ChainVerifier, WriterChain, timeMs } from '../hash-chain.js';
import { GroupCommitter, type GroupCommitOptions } from '../group-commit.js';
import { queryTimeRange, recordFromRow } from '../record-row.js';
import { migrate } from './migrations.js';
import { ChainAnchor, type AnchorOptions } from '../checkpoints.js';

export interface PostgresSinkOptions {
  readonly url: string;
  /** Schema holding the table and view; must match [a-z_][a-z0-9_]*. */
  readonly schema: string;
  readonly statementTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
  /** Batch write timeout (ms); defaults to the audit write timeout (2 s). */
  readonly writeTimeoutMs?: number;
  readonly maxPending?: number;
  readonly poolSize?: number;
  /** Writer id of this instance's chain (tests); random by default. */
  readonly writer?: string;
  /** Keyed chain and checkpoints outside the database (checkpoints.ts). */
  readonly anchor?: AnchorOptions;
}

interface Row {
  id: string;
  writer: string;
  seq: string;
  prev_hash: string;
  hash: string;
  time: Date | null;
  type: string;
  agent: string | null;
  tenant: string | null;
  tool: string | null;
  decision: string | null;
  request_id: string | null;
  record: string;
}

const COLUMNS =
  'id, writer, seq, prev_hash, hash, time, type, agent, tenant, tool, decision, request_id, record';
const VERIFY_PAGE = 5000;

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Marks a null in a joined column (see `joinColumn`). */
const NULL_MARK = '\x01';

/**
 * A text column as one string for `string_to_array(value, E'\n', E'\x01')`: values joined by
 * newlines, nulls as NULL_MARK. Undefined when that would not give back the same values: a value
 * holding a newline or equal to NULL_MARK, or a single empty string (which splits to no element).
 */
export function joinColumn(values: readonly (string | null)[]): string | undefined {
  for (const v of values) {
    if (v !== null && (v === NULL_MARK || v.includes('\n'))) return undefined;
  }
  const out = values.map((v) => v ?? NULL_MARK).join('\n');
  return out === '' ? undefined : out;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

export class PostgresAuditSink implements AuditSink {
  readonly kind = 'postgres';
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly chain: WriterChain;
  private readonly anchor: ChainAnchor;
  private readonly committer: GroupCommitter<AuditEvent>;
  private readonly logger: Logger;
  private readonly table: string;
  /** The batch insert with every column as one joined string (the usual case). */
  private readonly insertJoinedSql: string;
  /** The same insert with array parameters, for a batch holding a value `joinColumn` cannot carry. */
  private readonly insertArraysSql: string;
  private readonly insertName: string;
  private readonly queryTimeoutMs: number;
  private migrated: Promise<void> | undefined;
  /** After an ambiguous failure the batch may have committed: re-read this writer's head first. */
  private resync = false;
  private closed = false;

  constructor(options: PostgresSinkOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new Error('invalid audit schema name');
    this.schema = options.schema;
    this.logger = options.logger;
    this.table = `"${options.schema}".audit_events`;
    this.anchor = new ChainAnchor(options.anchor ?? {}, options.logger, () => ({
      writer: this.chain.writer,
      seq: this.chain.lastSeq,
      hash: this.chain.lastHash,
    }));
    this.chain = new WriterChain(options.writer, this.anchor.hasher);
    this.queryTimeoutMs = options.statementTimeoutMs + 500;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      // Client-side bound as well: a silent network (no RST) never answers a server-side timeout.
      query_timeout: this.queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'keyward-audit',
    });
    // An idle client losing its connection must not crash the process; the next use reconnects.
    this.pool.on('error', (error) =>
      this.logger.warn({ err: describe(error) }, 'idle audit connection lost'),
    );
    // A checked-out client also emits 'error' when its connection drops; the failing query reports it.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.insertName = `keyward_audit_insert_${options.schema}`;
    const insert = `INSERT INTO ${this.table}
      (writer, seq, prev_hash, hash, time, type, agent, tenant, tool, decision, request_id, record)
      SELECT $1, u.seq, u.prev_hash, u.hash, u.time, u.type, u.agent, u.tenant, u.tool, u.decision, u.request_id, u.record`;
    const rows = 'AS u(seq, prev_hash, hash, time, type, agent, tenant, tool, decision, request_id, record)';
    const joined = (n: number) => `string_to_array($${n}::text, E'\\n', E'\\x01')`;
    this.insertJoinedSql = `${insert}
      FROM unnest(string_to_array($2::text, ',')::bigint[], ${joined(3)}, ${joined(4)}, ${joined(5)}::timestamptz[],
                  ${joined(6)}, ${joined(7)}, ${joined(8)}, ${joined(9)}, ${joined(10)}, ${joined(11)},
                  string_to_array($12::text, E'\\n')) ${rows}`;
    this.insertArraysSql = `${insert}
      FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[],
                  $9::text[], $10::text[], $11::text[], string_to_array($12::text, E'\\n')) ${rows}`;
    const commitOptions: GroupCommitOptions<AuditEvent> = {
      commit: (events) => this.commit(events),
      writeTimeoutMs: options.writeTimeoutMs ?? DEFAULTS.audit.writeTimeoutMs,
      onFailure: (error, kind, size) =>
        this.logger.error(
          { err: describe(error), kind, events: size, store: 'postgres' },
          'audit write failed',
        ),
    };
    if (options.maxPending !== undefined) commitOptions.maxPending = options.maxPending;
    this.committer = new GroupCommitter(commitOptions);
  }

  get writer(): string {
    return this.chain.writer;
  }

  /** Runs the migrations (once; retried on the next use after a failure). */
  ensureMigrated(): Promise<void> {
    if (!this.migrated) {
      this.migrated = (async () => {
        const client = await this.pool.connect();
        try {
          const applied = await migrate(client, this.schema);
          client.release();
          if (applied.length > 0)
            this.logger.info({ schema: this.schema, applied }, 'audit migrations applied');
        } catch (error) {
          client.release(error instanceof Error ? error : true);
          throw error;
        }
      })();
      this.migrated.catch(() => {
        this.migrated = undefined;
      });
    }
    return this.migrated;
  }

  append(event: AuditEvent): Promise<void> {
    return this.committer.append(event);
  }

  flush(): Promise<void> {
    return this.committer.flush();
  }

  async tail(limit: number): Promise<AuditRecord[]> {
    await this.ensureMigrated();
    const res = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM ${this.table} ORDER BY id DESC LIMIT $1`, [
      Math.max(0, Math.floor(limit)),
    ]);
    return res.rows.reverse().map(toRecord);
  }

  async query(query: AuditQuery): Promise<AuditRecord[]> {
    await this.ensureMigrated();
    const where: string[] = [];
    const params: unknown[] = [];
    const columns = {
      agent: 'agent',
      tenant: 'tenant',
      tool: 'tool',
      requestId: 'request_id',
      type: 'type',
      decision: 'decision',
    } as const;
    for (const [key, column] of Object.entries(columns) as [keyof typeof columns, string][]) {
      const value = query[key];
      if (value !== undefined) {
        params.push(value);
        where.push(`${column} = $${params.length}`);
      }
    }
    const { sinceMs, untilMs } = queryTimeRange(query);
    if (sinceMs !== undefined) {
      params.push(new Date(sinceMs));
      where.push(`time >= $${params.length}`);
    }
    if (untilMs !== undefined) {
      params.push(new Date(untilMs));
      where.push(`time < $${params.length}`);
    }
    params.push(Math.max(0, Math.floor(query.limit ?? 1000)));
    const sql = `SELECT ${COLUMNS} FROM ${this.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY id DESC LIMIT $${params.length}`;
    const res = await this.pool.query<Row>(sql, params);
    return res.rows.reverse().map(toRecord);
  }

  async verify(): Promise<VerifyReport> {
    await this.ensureMigrated();
    const verifier = new ChainVerifier(this.anchor.verifierOptions());
    let after: [string, string, string] | undefined;
    // Keyset pages in (writer, seq, id) order: bounded memory whatever the table size.
    for (;;) {
      const res: pg.QueryResult<Row> = after
        ? await this.pool.query<Row>(
            `SELECT ${COLUMNS} FROM ${this.table} WHERE (writer, seq, id) > ($1, $2, $3)
             ORDER BY writer, seq, id LIMIT ${VERIFY_PAGE}`,
            after,
          )
        : await this.pool.query<Row>(
            `SELECT ${COLUMNS} FROM ${this.table} ORDER BY writer, seq, id LIMIT ${VERIFY_PAGE}`,
          );
      for (const row of res.rows) {
        verifier.add({
          writer: row.writer,
          seq: Number(row.seq),
          prevHash: row.prev_hash,
          hash: row.hash,
          body: row.record,
          columns: {
            time: row.time === null ? null : row.time.getTime(),
            type: row.type,
            agent: row.agent,
            tenant: row.tenant,
            tool: row.tool,
            decision: row.decision,
            requestId: row.request_id,
          },
        });
      }
      const last = res.rows[res.rows.length - 1];
      if (!last || res.rows.length < VERIFY_PAGE) break;
      after = [last.writer, last.seq, last.id];
    }
    return verifier.report();
  }

  async probe(): Promise<{ ok: boolean; message: string }> {
    try {
      await this.ensureMigrated();
      await this.pool.query(`SELECT 1 FROM ${this.table} LIMIT 1`);
      return { ok: true, message: `postgres audit store (schema ${this.schema}) is reachable` };
    } catch (error) {
      // pg error messages name hosts and objects, never the password of the URL.
      return {
        ok: false,
        message: `postgres audit store (schema ${this.schema}) is unavailable: ${describe(error)}`,
      };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committer.close();
    this.anchor.close();
    await this.pool.end();
  }

  private async commit(events: readonly AuditEvent[]): Promise<void> {
    await this.ensureMigrated();
    const client = await this.pool.connect();
    try {
      if (this.resync) await this.resyncHead(client);
      const records = this.chain.build(events);
      const n = records.length;
      const prevs = new Array<string>(n);
      const hashes = new Array<string>(n);
      const times = new Array<string | null>(n);
      const types = new Array<string>(n);
      const agents = new Array<string | null>(n);
      const tenants = new Array<string | null>(n);
      const tools = new Array<string | null>(n);
      const decisions = new Array<string | null>(n);
      const requestIds = new Array<string | null>(n);
      const bodies = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const r = records[i];
        if (!r) continue;
        const e = r.event;
        const ms = timeMs(e.time);
        prevs[i] = r.prevHash;
        hashes[i] = r.hash;
        times[i] = ms === null ? null : new Date(ms).toISOString();
        types[i] = e.type;
        agents[i] = str(e.agent);
        tenants[i] = str(e.tenant);
        tools[i] = str(e.tool);
        decisions[i] = str(e.decision);
        requestIds[i] = str(e.requestId);
        bodies[i] = r.body;
      }
      const seqs = records.map((r) => r.seq);
      const columns = [prevs, hashes, times, types, agents, tenants, tools, decisions, requestIds];
      const joined = columns.map(joinColumn);
      // Canonical JSON never holds a raw newline: the bodies travel as one string that the server
      // splits. So do the other columns when they can (a comma- or newline-joined string is cheaper
      // to build than an array literal, whose every element the driver quotes and escapes, and
      // cheaper for the server to split than to parse); a batch holding a newline or the null mark
      // in a value sends arrays (a separately prepared statement).
      const asJoined = joined.every((c) => c !== undefined);
      // One statement = one transaction for the whole batch.
      await client.query({
        name: asJoined ? this.insertName : `${this.insertName}_arrays`,
        text: asJoined ? this.insertJoinedSql : this.insertArraysSql,
        values: [
          this.chain.writer,
          asJoined ? seqs.join(',') : seqs,
          ...(asJoined ? joined : columns),
          bodies.join('\n'),
        ],
      });
      client.release();
      this.chain.advance(records);
      this.anchor.appended();
    } catch (error) {
      // A lost connection or timeout leaves the outcome unknown: drop the connection, re-read the head.
      this.resync = true;
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }

  private async resyncHead(client: pg.PoolClient): Promise<void> {
    const res = await client.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM ${this.table} WHERE writer = $1 ORDER BY seq DESC, id DESC LIMIT 1`,
      [this.chain.writer],
    );
    const head = res.rows[0];
    if (head && Number(head.seq) > this.chain.lastSeq) {
      this.logger.warn(
        { writer: this.chain.writer, seq: Number(head.seq) },
        'an audit batch reported as failed was committed; continuing the chain after it',
      );
      this.chain.resume(Number(head.seq), head.hash);
    }
    this.resync = false;
  }
}

function toRecord(row: Row): AuditRecord {
  return recordFromRow(row.record, row.hash, {
    writer: row.writer,
    seq: Number(row.seq),
    prevHash: row.prev_hash,
    type: row.type,
    time: row.time === null ? '' : row.time.toISOString(),
  });
}

/** Builds the PostgreSQL sink and tries its migrations once; an unreachable store fails closed per call. */
export async function createPostgresSink(options: PostgresSinkOptions): Promise<PostgresAuditSink> {
  const sink = new PostgresAuditSink(options);
  try {
    await sink.ensureMigrated();
  } catch (error) {
    options.logger.error(
      { err: describe(error), schema: options.schema },
      'audit store unavailable at start',
    );
  }
  return sink;
}
