/**
 * The event store shared by replicas: each session's events in one Redis list (in the order they
 * were stored, across its streams) beside a hash with its owner, how many events it ever stored and
 * how many bytes it holds. One Lua script appends an event and drops, from the head, what expired
 * and what no longer fits under the session's cap; the list expires `ttlMs` after its last event.
 *
 * Events carry tool results, so each is encrypted (AES-256-GCM) under a key derived from
 * `cache.encryptionKey` (HKDF, its own label) that Redis never sees, bound to its event id; the
 * owner record too. An entry that fails to open (altered, moved under another id, another key) is
 * skipped as if absent, and an owner that fails to open refuses every resume.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createRedisClient, waitReady } from '../../cache/redis/redis-connection.js';
import type { Logger } from '../../observability/logger.js';
import type {
  EventStore,
  EventStoreLimits,
  SessionEventLog,
  SessionEventsRead,
  StoredEvent,
  StreamOwner,
} from './event-store.js';

/** KEYS[1] list, KEYS[2] meta; ARGV entry, ttl ms, max bytes, meta ttl ms, owner blob. Returns 1 stored / 0 too large. */
const APPEND = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local entry = now .. '|' .. ARGV[1]
local size = #entry
local max = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], 'o', ARGV[5])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
if size > max then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[2], 'b', 0) end
redis.call('RPUSH', KEYS[1], entry)
redis.call('HINCRBY', KEYS[2], 'n', 1)
local bytes = redis.call('HINCRBY', KEYS[2], 'b', size)
local cutoff = now - tonumber(ARGV[2])
while redis.call('LLEN', KEYS[1]) > 1 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  local at = tonumber(string.match(head, '^(%d+)|'))
  if bytes <= max and at ~= nil and at >= cutoff then break end
  redis.call('LPOP', KEYS[1])
  bytes = redis.call('HINCRBY', KEYS[2], 'b', -#head)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

/** KEYS[1] list, KEYS[2] meta; ARGV cursor (events ever stored before it). Returns {stored, owner, entries}. */
const READ = `
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local owner = redis.call('HGET', KEYS[2], 'o') or ''
local len = redis.call('LLEN', KEYS[1])
local from = tonumber(ARGV[1]) - (n - len)
if from < 0 then from = 0 end
if from >= len then return {n, owner, {}} end
return {n, owner, redis.call('LRANGE', KEYS[1], from, -1)}
`;

type EventsClient = Redis & {
  keywardEventAppend(
    list: string,
    meta: string,
    entry: string,
    ttlMs: number,
    maxBytes: number,
    metaTtlMs: number,
    owner: string,
  ): Promise<number>;
  keywardEventRead(list: string, meta: string, cursor: number): Promise<[number, string, string[]]>;
};

export interface RedisEventStoreOptions extends EventStoreLimits {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /** `cache.encryptionKey` (32 bytes): the event key is derived from it. */
  readonly rootKey: Buffer;
  /** How long a session's owner record outlives its last event (the session's idle timeout). */
  readonly sessionIdleMs: number;
}

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class RedisEventStore implements EventStore {
  readonly shared = true;
  private readonly client: EventsClient;
  private readonly key: Buffer;
  private down = false;

  private constructor(private readonly options: RedisEventStoreOptions) {
    this.key = Buffer.from(
      hkdfSync('sha256', options.rootKey, Buffer.alloc(0), 'keyward stream events v1', 32),
    );
    const client = createRedisClient({ ...options, name: 'keyward-events' });
    client.defineCommand('keywardEventAppend', { numberOfKeys: 2, lua: APPEND });
    client.defineCommand('keywardEventRead', { numberOfKeys: 2, lua: READ });
    this.client = client as EventsClient;
  }

  static async create(options: RedisEventStoreOptions): Promise<RedisEventStore> {
    const store = new RedisEventStore(options);
    await waitReady(store.client, 1_500);
    return store;
  }

  private keys(sessionId: string): [string, string] {
    const base = `${this.options.keyPrefix}events:${sessionId}`;
    return [base, `${base}:meta`];
  }

  openSession(sessionId: string, owner: StreamOwner): SessionEventLog {
    return new RedisSessionLog(this, sessionId, this.seal(`owner\u0000${sessionId}`, JSON.stringify(owner)));
  }

  /** Stores one entry (`stream|seq|final|sealed data`); false when not stored. */
  async append(
    sessionId: string,
    owner: string,
    stream: number,
    seq: number,
    data: string,
    final: boolean,
  ): Promise<boolean> {
    const flag = final ? 1 : 0;
    const sealed = this.seal(`${sessionId}.${stream}.${seq}.${flag}`, data);
    const [list, meta] = this.keys(sessionId);
    const { ttlMs, maxSessionBytes, sessionIdleMs } = this.options;
    try {
      const stored = await this.client.keywardEventAppend(
        list,
        meta,
        `${stream}|${seq}|${flag}|${sealed}`,
        ttlMs,
        maxSessionBytes,
        sessionIdleMs + ttlMs,
        owner,
      );
      this.up();
      return Number(stored) === 1;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  async read(sessionId: string, cursor: number): Promise<SessionEventsRead> {
    const [list, meta] = this.keys(sessionId);
    const [n, ownerBlob, entries] = await this.client.keywardEventRead(list, meta, cursor);
    const ownerJson = ownerBlob === '' ? undefined : this.open(`owner\u0000${sessionId}`, ownerBlob);
    const owner = ownerJson === undefined ? undefined : (JSON.parse(ownerJson) as StreamOwner);
    const cutoff = Date.now() - this.options.ttlMs;
    const events: StoredEvent[] = [];
    for (const entry of entries) {
      const parts = entry.split('|', 5);
      if (parts.length !== 5) continue;
      const [at, stream, seq, flag, sealed] = parts as [string, string, string, string, string];
      if (Number(at) < cutoff) continue;
      const data = this.open(`${sessionId}.${stream}.${seq}.${flag}`, sealed);
      if (data === undefined) continue;
      events.push({ stream: Number(stream), seq: Number(seq), data, final: flag === '1' });
    }
    return { owner, events, cursor: Number(n) };
  }

  async discard(sessionId: string): Promise<void> {
    await this.client.del(...this.keys(sessionId)).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  private seal(id: string, text: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`keyward-event-v${FORMAT}\u0000${id}`, 'utf8'));
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), body]).toString('base64');
  }

  private open(id: string, sealed: string): string | undefined {
    const blob = Buffer.from(sealed, 'base64');
    if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== FORMAT) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, blob.subarray(1, 1 + IV_BYTES));
      decipher.setAAD(Buffer.from(`keyward-event-v${FORMAT}\u0000${id}`, 'utf8'));
      decipher.setAuthTag(blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
      return Buffer.concat([
        decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  private failed(error: unknown): void {
    if (!this.down) {
      this.options.logger.warn(
        { err: (error as Error).message },
        'event store: redis unavailable, stream events are delivered but not resumable',
      );
    }
    this.down = true;
  }

  private up(): void {
    this.down = false;
  }
}

class RedisSessionLog implements SessionEventLog {
  constructor(
    private readonly store: RedisEventStore,
    private readonly sessionId: string,
    private readonly owner: string,
  ) {}

  append(stream: number, seq: number, data: string, final: boolean): Promise<boolean> {
    return this.store.append(this.sessionId, this.owner, stream, seq, data, final);
  }

  async eventsAfter(stream: number, afterSeq: number): Promise<StoredEvent[]> {
    const { events } = await this.store.read(this.sessionId, 0);
    return events.filter((e) => e.stream === stream && e.seq > afterSeq);
  }

  discard(): Promise<void> {
    return this.store.discard(this.sessionId);
  }

  release(): void {}
}
