/** Per-writer hash chains: canonical JSON, record hashing, chain building and chain verification. */
import { createHmac, hash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setOwn } from '../core/own-property.js';
import type { AuditEvent } from '../core/types.js';
import type { AuditRecord, VerifyReport } from './audit-sink.js';

/** The prevHash of the first record of every writer chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** A unique writer id for one sink instance: `<hostname>-<pid>-<random>`. */
export function newWriterId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9.-]/g, '_')
      .slice(0, 64) || 'host';
  return `${host}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * JSON with object keys sorted at every level and `undefined` members dropped, so the same record
 * always hashes to the same bytes whatever order its fields were built in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortedCopy(value)) ?? 'null';
}

/** A copy with sorted keys that native JSON.stringify then serialises (faster than a hand-written walk). */
function sortedCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object')
    return typeof value === 'bigint' ? value.toString() : value;
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value instanceof Date) return value;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v !== undefined) setOwn(out, key, sortedCopy(v));
  }
  return out;
}

/** SHA-256 as hex; the one-shot `crypto.hash` costs about a third of a Hash object per record. */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** How a record's hash is computed from its canonical body. */
export type RecordHasher = (body: string) => string;

/**
 * The keyed chain (issue 14): HMAC-SHA256 under `audit.chainKey`, a key the database never holds.
 * Whoever can write the table cannot recompute the hashes after an edit, or forge a chain.
 */
export function keyedHasher(key: Buffer): RecordHasher {
  return (body) => createHmac('sha256', key).update(body, 'utf8').digest('hex');
}

/** A record ready to store: its chain position, canonical body and hash. */
export interface ChainedRecord {
  readonly event: AuditEvent;
  readonly writer: string;
  readonly seq: number;
  readonly prevHash: string;
  /** Canonical JSON of the record without `hash`; `hash` = sha256(body). Stored verbatim. */
  readonly body: string;
  readonly hash: string;
}

/**
 * The sorted field order of a record whose event has `keys` (in the event's own order): the event's
 * keys and the chain keys, sorted; a same-named pair (an event field named like a chain field) is
 * kept once, since the chain value wins; `hash` is never hashed. Events of one kind always have
 * the same keys in the same order, so the order is computed once per key list and reused.
 */
function fieldOrder(keys: readonly string[]): readonly string[] {
  const signature = keys.join('\u0000');
  const known = fieldOrders.get(signature);
  // A key holding the separator could make two key lists share a signature: compare the lists.
  if (known !== undefined && sameKeys(known.keys, keys)) return known.order;
  const sorted = [...keys, 'prevHash', 'seq', 'writer'].sort();
  const order = sorted.filter((key, i) => key !== 'hash' && key !== sorted[i - 1]);
  if (fieldOrders.size < MAX_FIELD_ORDERS) fieldOrders.set(signature, { keys: [...keys], order });
  return order;
}

const MAX_FIELD_ORDERS = 256;
const fieldOrders = new Map<
  string,
  { readonly keys: readonly string[]; readonly order: readonly string[] }
>();

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Builds the canonical body and hash of one record. */
export function chainRecord(
  event: AuditEvent,
  writer: string,
  seq: number,
  prevHash: string,
  hasher: RecordHasher = sha256Hex,
): ChainedRecord {
  // Chain fields win over same-named fields an event might carry; `hash` is never hashed.
  const fields = event as unknown as Record<string, unknown>;
  const unhashed: Record<string, unknown> = {};
  for (const key of fieldOrder(Object.keys(fields))) {
    let v: unknown;
    if (key === 'seq') v = seq;
    else if (key === 'writer') v = writer;
    else if (key === 'prevHash') v = prevHash;
    else {
      v = fields[key];
      if (v !== null && typeof v === 'object') v = sortedCopy(v);
      else if (typeof v === 'bigint') v = v.toString();
    }
    if (v !== undefined) unhashed[key] = v;
  }
  const body = JSON.stringify(unhashed);
  return { event, writer, seq, prevHash, body, hash: hasher(body) };
}

/** Parses a stored body back into a record (trusting nothing but the JSON itself). */
export function recordFromBody(body: string, hash: string): AuditRecord {
  return { ...(JSON.parse(body) as AuditRecord), hash };
}

/**
 * The chain head of one writer. `build` is pure: a sink builds a batch's records from the current
 * head, commits them, and only then calls `advance`, so a failed commit never moves the head.
 */
export class WriterChain {
  private seq = 0;
  private head = GENESIS_HASH;

  constructor(
    readonly writer: string = newWriterId(),
    private readonly hasher: RecordHasher = sha256Hex,
  ) {}

  /** The seq of the last committed record (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }

  get lastHash(): string {
    return this.head;
  }

  /** The records for `events`, continuing from the committed head. Does not move the head. */
  build(events: readonly AuditEvent[]): ChainedRecord[] {
    const out: ChainedRecord[] = new Array<ChainedRecord>(events.length);
    let seq = this.seq;
    let prev = this.head;
    for (let i = 0; i < events.length; i++) {
      seq += 1;
      const chained = chainRecord(events[i] as AuditEvent, this.writer, seq, prev, this.hasher);
      out[i] = chained;
      prev = chained.hash;
    }
    return out;
  }

  /** Continues after a stored head (a batch whose commit was reported failed but did land). */
  resume(seq: number, hash: string): void {
    this.seq = seq;
    this.head = hash;
  }

  /** Moves the head past a batch that is now committed. */
  advance(committed: readonly ChainedRecord[]): void {
    const last = committed[committed.length - 1];
    if (!last) return;
    if (last.seq !== this.seq + committed.length) {
      throw new Error(`chain of ${this.writer} advanced out of order`);
    }
    this.seq = last.seq;
    this.head = last.hash;
  }
}

/** One stored row as verification sees it. Indexed columns are compared against the hashed body. */
export interface StoredRow {
  readonly writer: string;
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly body: string;
  /** Indexed copies of body fields (type, agent, time…); each must equal the body's value. */
  readonly columns?: Readonly<Record<string, string | number | null | undefined>>;
}

const MAX_PROBLEMS = 1000;

/**
 * Streaming verifier. Rows must arrive grouped by writer and ordered by seq (then storage id).
 * Per writer: seq contiguous from 1 (a gap = deleted records, a repeated seq = inserted record),
 * prevHash links to the previous record's hash, sha256(body) equals the stored hash, and the
 * body's chain fields and the indexed columns match the body.
 */
/** The writer registry and signed heads kept outside the database (checkpoints.ts). */
export interface CheckpointState {
  /** Latest signed head of every registered writer. */
  readonly heads: ReadonlyMap<string, { readonly seq: number; readonly hash: string }>;
  /** Findings about the checkpoint file itself (forged lines). */
  readonly problems: readonly string[];
}

export interface ChainVerifierOptions {
  readonly hasher?: RecordHasher;
  /** When given, removal is detected too: missing tails, missing writers, forged writers. */
  readonly checkpoints?: CheckpointState;
}

export class ChainVerifier {
  private readonly problems: string[] = [];
  private dropped = 0;
  private records = 0;
  private writers = 0;
  private writer: string | undefined;
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private readonly hasher: RecordHasher;
  /** Last seq seen per writer (for the checkpoint comparison). */
  private readonly lastSeq = new Map<string, number>();

  constructor(private readonly options: ChainVerifierOptions = {}) {
    this.hasher = options.hasher ?? sha256Hex;
    for (const line of options.checkpoints?.problems ?? []) this.problem(line);
  }

  add(row: StoredRow): void {
    this.records += 1;
    if (row.writer !== this.writer) {
      this.writer = row.writer;
      this.writers += 1;
      this.expectedSeq = 1;
      this.prevHash = GENESIS_HASH;
      const heads = this.options.checkpoints?.heads;
      if (heads !== undefined && !heads.has(row.writer)) {
        this.problem(`writer ${row.writer}: forged writer (not in the writer registry)`);
      }
    }
    this.lastSeq.set(row.writer, row.seq);
    const head = this.options.checkpoints?.heads.get(row.writer);
    if (head !== undefined && head.seq === row.seq && head.hash !== row.hash) {
      this.problem(`writer ${row.writer} seq ${row.seq}: edited (differs from its signed checkpoint)`);
    }
    const where = `writer ${row.writer} seq ${row.seq}`;
    if (this.hasher(row.body) !== row.hash) {
      this.problem(`${where}: hash mismatch (record edited)`);
    } else {
      this.checkBody(row, where);
    }

    if (row.seq < this.expectedSeq) {
      this.problem(`${where}: duplicate seq (record inserted)`);
      return;
    }
    if (row.seq > this.expectedSeq) {
      const from = this.expectedSeq;
      const to = row.seq - 1;
      this.problem(
        from === to
          ? `writer ${row.writer} seq ${from}: missing (record deleted)`
          : `writer ${row.writer} seq ${from}-${to}: missing (${to - from + 1} records deleted)`,
      );
    } else if (row.prevHash !== this.prevHash) {
      this.problem(
        `${where}: prevHash does not match the hash of seq ${row.seq - 1} (record inserted, replaced or edited)`,
      );
    }
    this.expectedSeq = row.seq + 1;
    this.prevHash = row.hash;
  }

  report(): VerifyReport {
    for (const [writer, head] of this.options.checkpoints?.heads ?? []) {
      if (head.seq === 0) continue;
      const last = this.lastSeq.get(writer);
      if (last === undefined) {
        this.problem(`writer ${writer}: missing writer (${head.seq} checkpointed records are gone)`);
      } else if (last < head.seq) {
        this.problem(`writer ${writer} seq ${last + 1}-${head.seq}: missing tail (records deleted)`);
      }
    }
    const problems = [...this.problems];
    if (this.dropped > 0) problems.push(`… and ${this.dropped} more problems`);
    return { ok: problems.length === 0, records: this.records, writers: this.writers, problems };
  }

  private checkBody(row: StoredRow, where: string): void {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(row.body) as Record<string, unknown>;
    } catch {
      this.problem(`${where}: stored record is not valid JSON (record edited)`);
      return;
    }
    if (body.writer !== row.writer || body.seq !== row.seq || body.prevHash !== row.prevHash) {
      this.problem(`${where}: chain columns differ from the hashed record (record edited)`);
    }
    const differing: string[] = [];
    for (const [column, value] of Object.entries(row.columns ?? {})) {
      const hashed = column === 'time' ? timeMs(body.time) : (body[column] ?? null);
      if (hashed !== (value ?? null)) differing.push(column);
    }
    if (differing.length > 0) {
      const what = differing.length === 1 ? `column ${differing[0]}` : `columns ${differing.join(', ')}`;
      this.problem(
        `${where}: ${what} differ${differing.length === 1 ? 's' : ''} from the hashed record (record edited)`,
      );
    }
  }

  private problem(line: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(line);
    else this.dropped += 1;
  }
}

/** Epoch ms of an event time, or null when it is not a parseable time. */
export function timeMs(time: unknown): number | null {
  if (typeof time !== 'string') return null;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? null : ms;
}

/** Verifies an in-memory list of rows (sorted here by writer, seq). */
export function verifyRows(rows: readonly StoredRow[]): VerifyReport {
  const sorted = [...rows].sort((a, b) =>
    a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : a.seq - b.seq,
  );
  const verifier = new ChainVerifier();
  for (const row of sorted) verifier.add(row);
  return verifier.report();
}
