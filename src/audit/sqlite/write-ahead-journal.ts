/**
 * The write-ahead journal of the SQLite audit sink: one append-only file per sink instance, beside
 * the database (`<audit.db>.journals/<host>~<pid>~<random>.jsonl`; not `-journal`, which is SQLite's own), holding the canonical body of
 * every record not yet committed to SQLite.
 *
 * A record counts as recorded once its line is written here: `write()` returning means the bytes
 * are in the kernel, so they survive a crash of the keyward process (the same durability class as
 * a SQLite WAL commit with `synchronous=NORMAL`, which does not fsync either). The SQLite insert
 * then happens off the call path. Journals left by a process that died before its inserts are
 * replayed by the next sink that opens the database.
 */
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Truncate the journal once it is this large and everything in it is in SQLite. */
const TRUNCATE_AT_BYTES = 256 * 1024;

function hostTag(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9.-]/g, '_')
      .slice(0, 64) || 'host'
  );
}

/** The journal directory of a database file. */
export function journalDirOf(dbPath: string): string {
  return `${dbPath}.journals`;
}

export class WriteAheadJournal {
  readonly file: string;
  private fd: number | undefined;
  /** Bytes written and not cut off: a failed write is truncated back to this length. */
  private size = 0;

  constructor(dbPath: string) {
    const dir = journalDirOf(dbPath);
    this.file = path.join(dir, `${hostTag()}~${process.pid}~${randomBytes(6).toString('hex')}.jsonl`);
  }

  /**
   * Appends `line` (one record, or a group's records joined by newlines) and a newline in one write.
   * Throws (and leaves the file as it was) when it cannot be written whole.
   */
  append(line: string): void {
    const fd = this.open();
    const text = `${line}\n`;
    const length = Buffer.byteLength(text, 'utf8');
    try {
      const written = writeSync(fd, text, null, 'utf8');
      if (written < length) {
        // A short write (rare on a regular file): finish it from the bytes not written yet.
        const bytes = Buffer.from(text, 'utf8');
        let off = written;
        while (off < length) off += writeSync(fd, bytes, off, length - off);
      }
    } catch (error) {
      try {
        ftruncateSync(fd, this.size);
      } catch {
        // A journal we cannot cut back may end in a torn line: start a fresh file for what follows.
        this.closeFd();
      }
      throw error;
    }
    this.size += length;
  }

  /** Called when every line written so far is committed to SQLite. */
  committed(): void {
    if (this.fd === undefined || this.size < TRUNCATE_AT_BYTES) return;
    ftruncateSync(this.fd, 0);
    this.size = 0;
  }

  /** Closes and removes the file; call only when everything in it is committed. */
  remove(): void {
    this.closeFd();
    rmSync(this.file, { force: true });
    this.size = 0;
  }

  /** Closes the file and keeps it (lines not committed yet stay for the next start to replay). */
  close(): void {
    this.closeFd();
  }

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    // 'a': O_APPEND, so a reopened (torn) file is continued after a fresh newline.
    const fd = openSync(this.file, 'a', 0o600);
    this.fd = fd;
    this.size = 0;
    try {
      // A torn last line from an earlier failed write must not glue onto the next record.
      writeSync(fd, '\n');
      this.size = 1;
    } catch (error) {
      this.closeFd();
      throw error;
    }
    return fd;
  }

  private closeFd(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Already closed or the file system went away: nothing left to release.
      }
    }
  }
}

/** Journals in `dbPath`'s journal directory written by processes of this host that are gone. */
export function orphanJournals(dbPath: string, self?: string): string[] {
  const dir = journalDirOf(dbPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const host = hostTag();
  const out: string[] = [];
  for (const name of names) {
    const match = /^(.+)~(\d+)~[0-9a-f]+\.jsonl$/.exec(name);
    if (!match || match[1] !== host) continue;
    const file = path.join(dir, name);
    if (file === self) continue;
    if (!processGone(Number(match[2]))) continue;
    out.push(file);
  }
  return out.sort();
}

function processGone(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ESRCH';
  }
}

export interface JournalLine {
  /** The canonical body exactly as written (its SHA-256 is the record hash). */
  readonly body: string;
  readonly fields: Record<string, unknown>;
}

/** The record bodies of a journal, skipping blank and torn (unparseable) lines. */
export function readJournal(file: string): JournalLine[] {
  const out: JournalLine[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        out.push({ body: line, fields: parsed as Record<string, unknown> });
      }
    } catch {
      // A line torn by a crash or a full disk: its record was never acknowledged to a caller.
    }
  }
  return out;
}
