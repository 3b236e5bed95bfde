/**
 * The writer registry and signed checkpoints of every writer's chain head, kept outside the
 * database that holds the records (issue 14). A hash chain alone shows an edited or deleted
 * middle record, but not a chain cut short at its end, nor a whole writer (one server run) deleted,
 * since nothing points at a chain's last record. Each writer appends its head here when it starts
 * writing, every `checkpointIntervalSeconds` and at shutdown; `keyward audit verify` compares the
 * table against the latest head of every registered writer.
 *
 * One JSON line per checkpoint, appended and fsynced. With `audit.chainKey` each line carries an
 * HMAC under a key derived from it, so lines cannot be forged or altered either; without a key
 * the lines are unsigned (they still catch a database-only attacker who cannot write this file).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import {
  GENESIS_HASH,
  keyedHasher,
  sha256Hex,
  type ChainVerifierOptions,
  type CheckpointState,
  type RecordHasher,
} from './hash-chain.js';

interface CheckpointLine {
  readonly writer: string;
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly mac?: string;
}

function macKey(chainKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', chainKey, Buffer.alloc(0), 'keyward audit checkpoint v1', 32));
}

function macOf(key: Buffer, line: Omit<CheckpointLine, 'mac'>): string {
  return createHmac('sha256', key)
    .update(`${line.writer}\u0000${line.seq}\u0000${line.hash}\u0000${line.time}`)
    .digest('hex');
}

export class CheckpointLog {
  private readonly key: Buffer | undefined;
  private readonly written = new Map<string, number>();

  constructor(
    readonly file: string,
    chainKey: Buffer | undefined,
    private readonly logger: Logger,
  ) {
    this.key = chainKey === undefined ? undefined : macKey(chainKey);
  }

  /** Appends `writer`'s head unless it was already written at this seq. Never throws. */
  write(writer: string, seq: number, hash: string, now: Date = new Date()): void {
    if (this.written.get(writer) === seq) return;
    const line: CheckpointLine = { writer, seq, hash, time: now.toISOString() };
    const signed = this.key === undefined ? line : { ...line, mac: macOf(this.key, line) };
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const fd = openSync(this.file, 'a', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(signed)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.written.set(writer, seq);
    } catch (error) {
      this.logger.error(
        { file: this.file, err: (error as Error).message },
        'audit checkpoint could not be written: removal of this writer’s latest records would go unnoticed',
      );
    }
  }

  /**
   * The latest head of every registered writer, and the lines that fail their MAC. Undefined when
   * the file does not exist (no registry to check against).
   */
  static read(file: string, chainKey: Buffer | undefined): CheckpointState | undefined {
    if (!existsSync(file)) return undefined;
    const key = chainKey === undefined ? undefined : macKey(chainKey);
    const heads = new Map<string, { seq: number; hash: string }>();
    const problems: string[] = [];
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, index) => {
        if (text.trim() === '') return;
        let line: CheckpointLine;
        try {
          line = JSON.parse(text) as CheckpointLine;
        } catch {
          problems.push(`checkpoint line ${index + 1}: forged checkpoint (not valid JSON)`);
          return;
        }
        if (
          typeof line.writer !== 'string' ||
          typeof line.seq !== 'number' ||
          typeof line.hash !== 'string'
        ) {
          problems.push(`checkpoint line ${index + 1}: forged checkpoint (malformed)`);
          return;
        }
        if (key !== undefined) {
          const expected = Buffer.from(macOf(key, line));
          const given = Buffer.from(typeof line.mac === 'string' ? line.mac : '');
          if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
            problems.push(
              `checkpoint line ${index + 1}: forged checkpoint (signature invalid) for writer ${line.writer}`,
            );
            return;
          }
        }
        const known = heads.get(line.writer);
        if (known === undefined || line.seq >= known.seq)
          heads.set(line.writer, { seq: line.seq, hash: line.hash });
      });
    return { heads, problems };
  }
}

export interface AnchorOptions {
  /** `audit.chainKey`: keys the chain and signs the checkpoints. */
  readonly chainKey?: Buffer;
  /** `audit.checkpoints`: the file outside the database. */
  readonly checkpoints?: string;
  readonly checkpointIntervalMs?: number;
}

/**
 * What a sink needs to anchor its chain: the record hasher (keyed or not) and the checkpoint
 * writer. `head` reads the sink's durable chain head.
 */
export class ChainAnchor {
  readonly hasher: RecordHasher;
  private readonly log: CheckpointLog | undefined;
  private timer: NodeJS.Timeout | undefined;
  private registered = false;

  constructor(
    private readonly options: AnchorOptions,
    logger: Logger,
    private readonly head: () => { writer: string; seq: number; hash: string },
  ) {
    this.hasher = options.chainKey === undefined ? sha256Hex : keyedHasher(options.chainKey);
    this.log =
      options.checkpoints === undefined
        ? undefined
        : new CheckpointLog(options.checkpoints, options.chainKey, logger);
  }

  /** After a record is durable: registers the writer on its first record, then checkpoints on a timer. */
  appended(): void {
    if (this.log === undefined || this.registered) return;
    this.registered = true;
    const { writer } = this.head();
    this.log.write(writer, 0, GENESIS_HASH);
    this.timer = setInterval(() => this.checkpoint(), this.options.checkpointIntervalMs ?? 60_000);
    this.timer.unref();
  }

  /** Writes the current head (also at shutdown, after the last commit). */
  checkpoint(): void {
    if (this.log === undefined || !this.registered) return;
    const { writer, seq, hash } = this.head();
    this.log.write(writer, seq, hash);
  }

  close(): void {
    clearInterval(this.timer);
    this.checkpoint();
  }

  verifierOptions(): ChainVerifierOptions {
    const checkpoints =
      this.options.checkpoints === undefined
        ? undefined
        : CheckpointLog.read(this.options.checkpoints, this.options.chainKey);
    return { hasher: this.hasher, ...(checkpoints === undefined ? {} : { checkpoints }) };
  }
}
