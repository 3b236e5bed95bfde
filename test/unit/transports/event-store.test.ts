/**
 * The event stores of resumable streams: event ids, the memory store (per-session and total caps,
 * expiry) and the Redis store on the machine's Redis with a random key prefix (shared between two
 * store instances like two replicas, encrypted at rest, bound to their ids, capped, expiring,
 * discarded on DELETE). Never FLUSHes: only this test's keys are removed.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/observability/logger.js';
import {
  formatEventId,
  ownedBy,
  parseEventId,
  type StreamOwner,
} from '../../../src/transports/event-store/event-store.js';
import { MemoryEventStore } from '../../../src/transports/event-store/memory-event-store.js';
import { RedisEventStore } from '../../../src/transports/event-store/redis-event-store.js';

const SHARED = 'redis://127.0.0.1:6379';
const prefix = `kwtest:events:${randomBytes(6).toString('hex')}:`;
const rootKey = randomBytes(32);
const owner: StreamOwner = {
  subjectHash: createHash('sha256').update('token:first').digest('hex'),
  agent: 'first',
  tenant: 'acme',
};

const redisStores: RedisEventStore[] = [];
async function redisStore(
  overrides: Partial<{ ttlMs: number; maxSessionBytes: number; rootKey: Buffer }> = {},
): Promise<RedisEventStore> {
  const store = await RedisEventStore.create({
    url: SHARED,
    keyPrefix: prefix,
    commandTimeoutMs: 1_000,
    logger: silentLogger(),
    rootKey,
    ttlMs: 60_000,
    maxSessionBytes: 64 * 1024,
    sessionIdleMs: 60_000,
    ...overrides,
  });
  redisStores.push(store);
  return store;
}

afterAll(async () => {
  await Promise.all(redisStores.map((s) => s.close()));
  const redis = new Redis(SHARED);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('event ids', () => {
  it('name the session, the stream and the sequence, and parse back', () => {
    const sid = randomUUID();
    const id = formatEventId(sid, 3, 7);
    expect(id).toBe(`${sid}.3.7`);
    expect(parseEventId(id)).toEqual({ sessionId: sid, stream: 3, seq: 7 });
  });

  it('refuse anything this server did not issue', () => {
    for (const bad of [
      '',
      'x',
      '1.2',
      `${randomUUID()}.a.1`,
      `${randomUUID()}.1.-1`,
      'a b.1.1',
      `../x.1.1`,
    ]) {
      expect(parseEventId(bad)).toBeUndefined();
    }
  });

  it('an owner matches only the same subject, agent and tenant', () => {
    expect(ownedBy(owner, owner.subjectHash, 'first', 'acme')).toBe(true);
    expect(ownedBy(owner, owner.subjectHash, 'second', 'acme')).toBe(false);
    expect(ownedBy(owner, owner.subjectHash, 'first', 'other')).toBe(false);
    expect(ownedBy(owner, 'f'.repeat(64), 'first', 'acme')).toBe(false);
  });
});

describe('MemoryEventStore', () => {
  const make = (clock = new ManualClock(), maxSessionBytes = 1_000, maxBytes = 10_000) =>
    new MemoryEventStore({ clock, ttlMs: 60_000, maxSessionBytes, maxBytes });

  it('replays the events of one stream after a sequence, in order', async () => {
    const log = make().openSession('s', owner);
    log.append(1, 1, '{"a":1}', false);
    log.append(2, 1, '{"b":1}', true);
    log.append(1, 2, '{"a":2}', true);
    expect((await log.eventsAfter(1, 0)).map((e) => [e.seq, e.data, e.final])).toEqual([
      [1, '{"a":1}', false],
      [2, '{"a":2}', true],
    ]);
    expect((await log.eventsAfter(1, 1)).map((e) => e.seq)).toEqual([2]);
    expect(await log.eventsAfter(3, 0)).toEqual([]);
  });

  it('drops events after their ttl', async () => {
    const clock = new ManualClock();
    const log = make(clock).openSession('s', owner);
    log.append(1, 1, 'old', false);
    clock.advance(30_000);
    log.append(1, 2, 'new', false);
    clock.advance(31_000);
    expect((await log.eventsAfter(1, 0)).map((e) => e.data)).toEqual(['new']);
  });

  it('frees the bytes of an idle session’s expired events at its sweep', () => {
    const clock = new ManualClock();
    const store = make(clock);
    store.openSession('idle', owner).append(1, 1, 'x'.repeat(100), true);
    expect(store.bytes).toBeGreaterThan(100);
    clock.advance(61_000);
    store.sweep();
    expect(store.bytes).toBe(0);
    void store.close();
  });

  it('keeps a session under its cap (oldest first) and never stores an event larger than the cap', async () => {
    const store = make(new ManualClock(), 300);
    const log = store.openSession('s', owner);
    for (let i = 1; i <= 10; i++) expect(log.append(1, i, 'x'.repeat(60), false)).toBe(true);
    const kept = await log.eventsAfter(1, 0);
    expect(kept.length).toBeLessThan(10);
    expect(kept.at(-1)?.seq).toBe(10);
    expect(store.bytes).toBeLessThanOrEqual(300);
    expect(log.append(1, 11, 'y'.repeat(400), true)).toBe(false);
  });

  it('holds at most maxBytes across sessions, and frees a session’s bytes when it ends', async () => {
    const store = make(new ManualClock(), 1_000, 500);
    const a = store.openSession('a', owner);
    const b = store.openSession('b', owner);
    expect(a.append(1, 1, 'x'.repeat(400), false)).toBe(true);
    expect(b.append(1, 1, 'x'.repeat(400), false)).toBe(false);
    a.release();
    expect(store.bytes).toBe(0);
    expect(b.append(1, 1, 'x'.repeat(400), false)).toBe(true);
    await b.discard();
    expect(store.bytes).toBe(0);
  });

  it('is not shared: another replica reads nothing', async () => {
    const store = make();
    store.openSession('s', owner).append(1, 1, 'x', true);
    expect(store.shared).toBe(false);
    expect((await store.read('s', 0)).owner).toBeUndefined();
  });
});

describe('RedisEventStore', () => {
  it('shares a session’s events and owner with another replica, which follows new ones from a cursor', async () => {
    const [a, b] = await Promise.all([redisStore(), redisStore()]);
    const sid = randomUUID();
    const log = a.openSession(sid, owner);
    expect(await log.append(1, 1, '{"jsonrpc":"2.0","method":"notifications/progress"}', false)).toBe(true);
    const first = await b.read(sid, 0);
    expect(first.owner).toEqual(owner);
    expect(first.events.map((e) => [e.stream, e.seq, e.final])).toEqual([[1, 1, false]]);
    expect(await log.append(1, 2, '{"jsonrpc":"2.0","id":1,"result":{}}', true)).toBe(true);
    const next = await b.read(sid, first.cursor);
    expect(next.events.map((e) => [e.seq, e.data, e.final])).toEqual([
      [2, '{"jsonrpc":"2.0","id":1,"result":{}}', true],
    ]);
    expect((await log.eventsAfter(1, 1)).map((e) => e.seq)).toEqual([2]);
  });

  it('stores events encrypted: no tool result and no owner in clear in Redis', async () => {
    const store = await redisStore();
    const sid = randomUUID();
    const canary = `kw_canary_${randomBytes(8).toString('hex')}`;
    await store.openSession(sid, owner).append(1, 1, JSON.stringify({ result: { text: canary } }), true);
    const redis = new Redis(SHARED);
    const list = await redis.lrange(`${prefix}events:${sid}`, 0, -1);
    const meta = await redis.hgetall(`${prefix}events:${sid}:meta`);
    redis.disconnect();
    expect(list).toHaveLength(1);
    const everything = JSON.stringify([list, meta]);
    expect(everything).not.toContain(canary);
    expect(everything).not.toContain('first');
    expect(everything).not.toContain(owner.subjectHash);
  });

  it('skips an entry moved under another id or sealed with another key, and an owner it cannot open', async () => {
    const store = await redisStore();
    const other = await redisStore({ rootKey: randomBytes(32) });
    const sid = randomUUID();
    const log = store.openSession(sid, owner);
    await log.append(1, 1, '{"n":1}', false);
    await log.append(1, 2, '{"n":2}', true);
    const redis = new Redis(SHARED);
    const key = `${prefix}events:${sid}`;
    const [e1] = await redis.lrange(key, 0, 0);
    // The first entry replayed as if it were sequence 3: its seal names sequence 1.
    await redis.rpush(key, e1!.replace(/\|1\|1\|0\|/, '|1|3|0|'));
    await redis.hincrby(`${key}:meta`, 'n', 1);
    redis.disconnect();
    expect((await log.eventsAfter(1, 0)).map((e) => e.seq)).toEqual([1, 2]);
    const foreign = await other.read(sid, 0);
    expect(foreign.owner).toBeUndefined();
    expect(foreign.events).toEqual([]);
  });

  it('caps a session’s bytes (oldest first), refuses an event larger than the cap, expires, and discards', async () => {
    const store = await redisStore({ maxSessionBytes: 2_000, ttlMs: 1_000 });
    const sid = randomUUID();
    const log = store.openSession(sid, owner);
    for (let i = 1; i <= 20; i++) expect(await log.append(1, i, 'x'.repeat(200), false)).toBe(true);
    const kept = await log.eventsAfter(1, 0);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(20);
    expect(kept.at(-1)?.seq).toBe(20);
    expect(await log.append(1, 21, 'y'.repeat(3_000), true)).toBe(false);
    const redis = new Redis(SHARED);
    const ttl = await redis.pttl(`${prefix}events:${sid}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await log.eventsAfter(1, 0)).toEqual([]);
    await log.append(1, 22, '{"n":22}', true);
    expect((await log.eventsAfter(1, 0)).map((e) => e.seq)).toEqual([22]);
    await log.discard();
    expect(await redis.exists(`${prefix}events:${sid}`, `${prefix}events:${sid}:meta`)).toBe(0);
    redis.disconnect();
    expect((await store.read(sid, 0)).owner).toBeUndefined();
  });

  it('answers false (not stored) when Redis is unreachable, instead of failing the send', async () => {
    const store = await RedisEventStore.create({
      url: 'redis://127.0.0.1:1',
      keyPrefix: prefix,
      commandTimeoutMs: 200,
      logger: silentLogger(),
      rootKey,
      ttlMs: 1_000,
      maxSessionBytes: 1_000,
      sessionIdleMs: 1_000,
    });
    redisStores.push(store);
    expect(await store.openSession(randomUUID(), owner).append(1, 1, '{}', true)).toBe(false);
  });
});
