/**
 * The embedded encrypted secret store (`type: "file"`): one AES-256-GCM file holding every secret
 * with its last versions, a separate 0600 key file, atomic writes, and change notification.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../core/clock.js';
import { ConfigError, KeywardError } from '../../core/errors.js';
import type { ProbeResult, Secret, SecretRequest } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import type { GetOptions, RotateOptions, SecretBackend, SecretSummary } from '../secret-backend.js';
import { selectField } from '../secret-fields.js';
import {
  StoreIntegrityError,
  assertPrivateFile,
  decryptStore,
  encodeKey,
  encryptStore,
  generateKey,
  loosePermissionMessage,
  parseKey,
} from './file-crypto.js';

/** How many versions of each secret are kept (older ones are dropped on write). */
export const MAX_VERSIONS = 10;
const NAME_PATTERN = /^[A-Za-z0-9_.@/:-]{1,256}$/;
const LOCK_WAIT_MS = 3_000;
const STALE_LOCK_MS = 15_000;

interface StoredVersion {
  version: number;
  value: string;
  createdAt: string;
}

interface StoreData {
  v: 1;
  secrets: Record<string, { versions: StoredVersion[] }>;
}

export interface FileBackendOptions {
  /** Absolute path of the encrypted store. */
  readonly path: string;
  /** Absolute path of the 32-byte key file. */
  readonly keyPath: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often the store file is polled for changes by other processes (ms). */
  readonly watchIntervalMs?: number;
  /**
   * Create the key file (0600) and an empty store when NEITHER exists (a first start on the
   * embedded defaults). Never when only one exists: a new key would make old secrets unreadable.
   */
  readonly createIfMissing?: boolean;
}

function emptyStore(): StoreData {
  return { v: 1, secrets: {} };
}

function signature(s: Stats): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

function latest(entry: { versions: StoredVersion[] } | undefined): StoredVersion | undefined {
  return entry?.versions[entry.versions.length - 1];
}

function parseStore(plaintext: Buffer): StoreData {
  const data = JSON.parse(plaintext.toString('utf8')) as StoreData;
  if (data.v !== 1 || typeof data.secrets !== 'object' || data.secrets === null)
    throw new StoreIntegrityError();
  return data;
}

/** Creates a new key file (0600) and an empty store. Refuses to overwrite either unless `force`. */
export async function createFileStore(options: {
  path: string;
  keyPath: string;
  force?: boolean;
}): Promise<void> {
  for (const file of [options.keyPath, options.path]) {
    if (!options.force && existsSync(file))
      throw new ConfigError(`${file} already exists (use --force to replace it)`);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  }
  const key = generateKey();
  // Replace rather than rewrite in place, so a forced re-init never inherits a loose mode.
  if (options.force) await unlink(options.keyPath).catch(() => undefined);
  await writeFile(options.keyPath, encodeKey(key), { mode: 0o600, flag: 'wx' });
  await writeAtomic(options.path, encryptStore(key, Buffer.from(JSON.stringify(emptyStore()))));
}

/** Writes via a 0600 temp file in the same directory, fsync, then rename over the target. */
async function writeAtomic(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

export class FileBackend implements SecretBackend {
  readonly kind = 'file';
  readonly storesOneString = true;
  readonly readPermissionHint = 'store it with `keyward secrets set NAME`';
  private readonly key: Buffer;
  private data: StoreData = emptyStore();
  private sig = 'none';
  private loading: Promise<void> | undefined;
  private readonly listeners = new Set<(ref: string | undefined) => void>();
  private watching = false;
  private closed = false;
  private readonly onWatch = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return;
    this.refresh().catch((error: unknown) => {
      this.options.logger.warn(
        { err: safeErr(error), store: this.options.path },
        'secret store reload failed',
      );
      this.emit(undefined);
    });
  };

  private constructor(
    private readonly options: FileBackendOptions,
    key: Buffer,
  ) {
    this.key = key;
  }

  /** Opens a store: checks the key file (must exist, mode 0600) and the store (if present) before use. */
  static async open(options: FileBackendOptions): Promise<FileBackend> {
    if (options.createIfMissing && !existsSync(options.keyPath) && !existsSync(options.path)) {
      await createFileStore({ path: options.path, keyPath: options.keyPath });
      options.logger.info(
        { store: options.path, keyFile: options.keyPath },
        'created a new key file and an empty store',
      );
    }
    if (!existsSync(options.keyPath)) {
      throw new ConfigError(`key file ${options.keyPath} not found (run \`keyward init\` to create it)`);
    }
    assertPrivateFile(options.keyPath);
    const key = parseKey(await readFile(options.keyPath), options.keyPath);
    if (existsSync(options.path)) assertPrivateFile(options.path);
    const backend = new FileBackend(options, key);
    try {
      await backend.refresh();
    } catch (error) {
      if (error instanceof KeywardError && error.detail?.includes('integrity')) {
        throw new ConfigError(
          `the secret store ${options.path} failed its integrity check (wrong key file, or the file was modified)`,
        );
      }
      throw error;
    }
    return backend;
  }

  async get(request: SecretRequest, _options?: GetOptions): Promise<Secret> {
    await this.refresh();
    const entry = this.data.secrets[request.ref];
    const chosen =
      request.version === undefined
        ? latest(entry)
        : entry?.versions.find((v) => String(v.version) === request.version);
    if (!chosen) {
      throw new KeywardError('credential_not_found', 'no such secret in the file store', {
        detail: `file store has no ${request.version === undefined ? 'value' : `version ${request.version}`} for "${request.ref}"`,
      });
    }
    const selected = selectField(chosen.value, request.field);
    return { ...selected, version: String(chosen.version), keyId: `file:${request.ref}` };
  }

  async set(ref: string, value: string): Promise<{ version: string }> {
    return this.write(ref, value, false);
  }

  async rotate(
    ref: string,
    newValue: string | undefined,
    options?: RotateOptions,
  ): Promise<{ version: string }> {
    if (options?.trigger || newValue === undefined) {
      throw new ConfigError('the file backend cannot rotate a secret by itself: give the new value instead');
    }
    return this.write(ref, newValue, true);
  }

  async remove(ref: string): Promise<void> {
    await this.mutate((data) => {
      if (!data.secrets[ref])
        throw new KeywardError('credential_not_found', `no secret named "${ref}" in the file store`);
      delete data.secrets[ref];
    });
  }

  async list(): Promise<SecretSummary[]> {
    await this.refresh();
    return Object.entries(this.data.secrets)
      .map(([name, entry]) => {
        const last = latest(entry);
        const first = entry.versions[0];
        return {
          name,
          version: String(last?.version ?? 0),
          ...(first ? { createdAt: first.createdAt } : {}),
          ...(last ? { updatedAt: last.createdAt } : {}),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The kept versions of one secret (numbers and times, never values). */
  async versions(ref: string): Promise<{ version: string; createdAt: string }[]> {
    await this.refresh();
    return (this.data.secrets[ref]?.versions ?? []).map((v) => ({
      version: String(v.version),
      createdAt: v.createdAt,
    }));
  }

  onChange(listener: (ref: string | undefined) => void): void {
    this.listeners.add(listener);
    if (!this.watching && !this.closed) {
      this.watching = true;
      watchFile(
        this.options.path,
        { persistent: false, interval: this.options.watchIntervalMs ?? 500 },
        this.onWatch,
      );
    }
  }

  async probe(): Promise<ProbeResult> {
    try {
      await this.refresh();
      return {
        ok: true,
        message: `file store ${this.options.path}: ${Object.keys(this.data.secrets).length} secrets`,
      };
    } catch (error) {
      return { ok: false, message: `file store ${this.options.path}: ${safeErr(error)}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watching) unwatchFile(this.options.path, this.onWatch);
    this.watching = false;
    this.listeners.clear();
  }

  /** Re-reads the store only when its inode/size/mtime changed; emits onChange for each changed name. */
  private async refresh(): Promise<void> {
    if (this.loading) return this.loading;
    this.loading = this.reloadIfChanged().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async reloadIfChanged(): Promise<void> {
    let st: Stats;
    try {
      st = await stat(this.options.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw unavailable('cannot stat the store', error);
      if (this.sig !== 'none') this.replace(emptyStore(), 'none');
      return;
    }
    const sig = signature(st);
    if (sig === this.sig) return;
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      this.options.logger.error(
        { store: this.options.path },
        loosePermissionMessage(this.options.path, st.mode),
      );
      throw new KeywardError('secret_backend_unavailable', 'the secret store has unsafe file permissions', {
        detail: loosePermissionMessage(this.options.path, st.mode),
      });
    }
    const next = await this.readStore();
    this.replace(next, sig);
  }

  private async readStore(): Promise<StoreData> {
    let raw: Buffer;
    try {
      raw = await readFile(this.options.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyStore();
      throw unavailable('cannot read the store', error);
    }
    try {
      return parseStore(decryptStore(this.key, raw));
    } catch {
      this.options.logger.error({ store: this.options.path }, 'the secret store failed its integrity check');
      throw new KeywardError('secret_backend_unavailable', 'the secret store failed its integrity check', {
        detail: `integrity check failed for ${this.options.path}`,
      });
    }
  }

  private replace(next: StoreData, sig: string): void {
    const before = this.data;
    this.data = next;
    this.sig = sig;
    const names = new Set([...Object.keys(before.secrets), ...Object.keys(next.secrets)]);
    for (const name of names) {
      if (latest(before.secrets[name])?.version !== latest(next.secrets[name])?.version) this.emit(name);
    }
  }

  private emit(ref: string | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(ref);
      } catch (error) {
        this.options.logger.warn({ err: safeErr(error) }, 'secret change listener failed');
      }
    }
  }

  private async write(ref: string, value: string, mustExist: boolean): Promise<{ version: string }> {
    if (!NAME_PATTERN.test(ref)) {
      throw new ConfigError(`invalid secret name "${ref}": use 1-256 of A-Z a-z 0-9 _ . @ / : -`);
    }
    let version = 0;
    await this.mutate((data) => {
      const entry = data.secrets[ref];
      if (mustExist && !entry)
        throw new KeywardError('credential_not_found', `no secret named "${ref}" to rotate`);
      const versions = entry?.versions ?? [];
      version = (latest(entry)?.version ?? 0) + 1;
      versions.push({ version, value, createdAt: new Date(this.options.clock.now()).toISOString() });
      data.secrets[ref] = { versions: versions.slice(-MAX_VERSIONS) };
    });
    return { version: String(version) };
  }

  /** Read-modify-write under an exclusive lock file, so two CLI processes never lose an update. */
  private async mutate(change: (data: StoreData) => void): Promise<void> {
    const release = await this.lock();
    try {
      const data = await this.readStore();
      change(data);
      await writeAtomic(this.options.path, encryptStore(this.key, Buffer.from(JSON.stringify(data))));
      // The in-memory view becomes the one just written (emitting what changed, ours included);
      // the watcher then sees no difference.
      this.replace(data, signature(await stat(this.options.path)));
    } finally {
      await release();
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    const lockFile = `${this.options.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await open(lockFile, 'wx', 0o600);
        await handle.close();
        return () => unlink(lockFile).catch(() => undefined);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const age = await stat(lockFile).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > STALE_LOCK_MS) await unlink(lockFile).catch(() => undefined);
        else if (Date.now() > deadline)
          throw new Error(`the secret store is locked by another process (${lockFile})`);
        else await new Promise((r) => setTimeout(r, 25));
      }
    }
  }
}

function unavailable(message: string, error: unknown): KeywardError {
  return new KeywardError('secret_backend_unavailable', `the secret store is unavailable: ${message}`, {
    detail: (error as NodeJS.ErrnoException).code ?? 'unknown error',
  });
}

/** An error summary safe to log: message only (our own messages never carry values), no stack. */
function safeErr(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
