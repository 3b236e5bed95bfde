/**
 * Grants and pending approvals in Redis, shared by every replica and by `keyward grants`:
 * immutable JSON per grant/approval, mutable state (uses, revocation, answer) changed only by
 * atomic Lua scripts, indexes as sorted sets, and a pub/sub channel so every replica learns of a
 * change at once. Fail closed: when Redis cannot answer, calls are refused, never allowed.
 */
import type { Redis } from 'ioredis';
import { KeywardError } from '../../core/errors.js';
import type { Logger } from '../../observability/logger.js';
import { createRedisClient, waitReady } from '../../cache/redis/redis-connection.js';
import type {
  ApprovalAnswer,
  ApprovalStatus,
  Grant,
  GrantQuery,
  GrantStore,
  NewApproval,
  NewGrant,
  PendingApproval,
  UseResult,
} from '../grant-store.js';
import { approvalStatusAt, grantFromApproval, matchesQuery, newId } from '../memory-grant-store.js';
import type { StateSeal } from './state-seal.js';

/** How long answered/expired records stay listable after they stop mattering. */
const RETENTION_MS = 7 * 24 * 3600 * 1000;
const LIST_LIMIT = 1000;

/** KEYS[1] grant state hash; ARGV now. */
const USE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local f = redis.call('HMGET', KEYS[1], 'revokedAt', 'expiresAt', 'maxCalls', 'used')
if f[1] then return {'revoked'} end
if tonumber(ARGV[1]) >= tonumber(f[2]) then return {'expired'} end
if f[3] and tonumber(f[4]) >= tonumber(f[3]) then return {'exhausted'} end
return {'ok', tostring(redis.call('HINCRBY', KEYS[1], 'used', 1))}
`;

/** KEYS[1] grant state hash; ARGV now, by. 0 missing, 1 already revoked, 2 revoked now. */
const REVOKE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return 1 end
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1], 'revokedBy', ARGV[2])
return 2
`;

/**
 * KEYS approval, answer, grant, grant state, grant index, all grants.
 * ARGV answer json, grant json ('' when denied), expiresAt, maxCalls (''), ttl ms, createdAt, grant id.
 * 0 unknown approval, 1 already answered (first answer wins), 2 answered now.
 */
const ANSWER = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[5])
  redis.call('HSET', KEYS[4], 'used', '0', 'expiresAt', ARGV[3])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[4], 'maxCalls', ARGV[4]) end
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[7])
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[7])
end
return 2
`;

/** Key lifetime: the record's own lifetime plus the retention (independent of this host's clock). */
function retention(from: number, until: number): number {
  return Math.max(0, until - from) + RETENTION_MS;
}

type Scripted = Redis & {
  keywardUse(key: string, now: string): Promise<[string, string?]>;
  keywardRevoke(key: string, now: string, by: string): Promise<number>;
  keywardAnswer(...args: string[]): Promise<number>;
};

export interface RedisGrantStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /** Seals every record (state-seal.ts); its key never reaches Redis. */
  readonly seal: StateSeal;
  /** Told when a record fails its seal (the gateway raises the `state.forged` alert). */
  readonly onForged?: (what: { kind: string; id: string }) => void;
}

interface AnswerState {
  status: ApprovalStatus;
  answeredAt: number;
  answeredBy: string;
  grantId?: string;
}

export class RedisGrantStore implements GrantStore {
  readonly kind = 'redis';
  private readonly client: Scripted;
  private readonly subscriber: Redis;
  private readonly listeners = new Set<() => void>();
  private readonly p: string;
  private readonly channel: string;

  private constructor(private readonly options: RedisGrantStoreOptions) {
    this.p = `${options.keyPrefix}g:`;
    this.channel = `${this.p}changed`;
    const client = createRedisClient({ ...options, name: 'keyward-grants' });
    client.defineCommand('keywardUse', { numberOfKeys: 1, lua: USE });
    client.defineCommand('keywardRevoke', { numberOfKeys: 1, lua: REVOKE });
    client.defineCommand('keywardAnswer', { numberOfKeys: 6, lua: ANSWER });
    this.client = client as Scripted;
    this.subscriber = createRedisClient({ ...options, name: 'keyward-grants-sub', subscriber: true });
    this.subscriber.on('message', (channel: string) => {
      if (channel === this.channel) for (const listener of this.listeners) listener();
    });
    this.subscriber.subscribe(this.channel).catch(() => undefined);
  }

  static async create(options: RedisGrantStoreOptions): Promise<RedisGrantStore> {
    const store = new RedisGrantStore(options);
    await waitReady(store.client, 1_500);
    return store;
  }

  private grantKey(id: string): string {
    return `${this.p}grant:${id}`;
  }
  private stateKey(id: string): string {
    return `${this.p}grant:${id}:m`;
  }
  private grantIndex(agent: string, tenant: string, permission: string): string {
    return `${this.p}grants:${[agent, tenant, permission].map(encodeURIComponent).join('|')}`;
  }
  private approvalKey(id: string): string {
    return `${this.p}approval:${id}`;
  }
  private answerKey(id: string): string {
    return `${this.p}approval:${id}:answer`;
  }
  private approvalIndex(agent: string, tenant: string, permission: string): string {
    return `${this.p}approvals:${[agent, tenant, permission].map(encodeURIComponent).join('|')}`;
  }

  /** Runs a Redis operation; any failure becomes a structured refusal (fail closed). */
  private async guard<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof KeywardError) throw error;
      this.options.logger.warn(
        { op, err: (error as Error).message },
        'grant store: redis unavailable (fail closed)',
      );
      throw new KeywardError(
        'internal_error',
        'the grant store is unavailable; the call was refused, retry shortly',
        {
          retryAfterSeconds: 2,
          detail: `redis grant store ${op} failed`,
        },
      );
    }
  }

  private sealed(kind: string, id: string, value: unknown): string {
    return this.options.seal.seal(kind, id, JSON.stringify(value));
  }

  /** The record when its seal holds; otherwise logged, alerted and treated as absent. */
  private opened<T extends object>(kind: string, id: string, stored: string): T | undefined {
    const json = this.options.seal.open(kind, id, stored);
    if (json === undefined) {
      this.forged(kind, id);
      return undefined;
    }
    const value = JSON.parse(json) as T;
    if (kind !== 'answer' && (value as { id?: unknown }).id !== id) {
      this.forged(kind, id);
      return undefined;
    }
    return value;
  }

  private forged(kind: string, id: string): void {
    this.options.logger.error(
      { kind, id },
      'state.forged: a grant-store record in Redis fails its seal; it is ignored (someone with Redis access wrote it)',
    );
    this.options.onForged?.({ kind, id });
  }

  private changed(): void {
    this.client.publish(this.channel, '1').catch(() => undefined);
  }

  createGrant(input: NewGrant): Promise<Grant> {
    return this.guard('createGrant', async () => {
      const grant: Grant = { ...input, id: newId('g'), used: 0 };
      const ttl = retention(grant.createdAt, grant.expiresAt);
      const multi = this.client
        .multi()
        .set(this.grantKey(grant.id), this.sealed('grant', grant.id, grant), 'PX', ttl)
        .hset(this.stateKey(grant.id), 'used', '0', 'expiresAt', String(grant.expiresAt));
      if (grant.maxCalls !== undefined)
        multi.hset(this.stateKey(grant.id), 'maxCalls', String(grant.maxCalls));
      await multi
        .pexpire(this.stateKey(grant.id), ttl)
        .zadd(this.grantIndex(grant.agent, grant.tenant, grant.permission), grant.createdAt, grant.id)
        .zadd(`${this.p}grants`, grant.createdAt, grant.id)
        .exec();
      this.changed();
      return grant;
    });
  }

  getGrant(id: string): Promise<Grant | undefined> {
    return this.guard('getGrant', async () => (await this.loadGrants([id]))[0]);
  }

  private async loadGrants(ids: readonly string[]): Promise<Grant[]> {
    if (ids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.get(this.grantKey(id)).hgetall(this.stateKey(id));
    const results = (await pipeline.exec()) ?? [];
    const grants: Grant[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [jsonError, json] = results[i * 2] ?? [];
      const [stateError, state] = results[i * 2 + 1] ?? [];
      if (jsonError || stateError) throw jsonError ?? stateError;
      if (typeof json !== 'string') continue;
      const opened = this.opened<Grant>('grant', ids[i]!, json);
      if (opened === undefined) continue;
      const base = opened;
      const s = (state ?? {}) as Record<string, string>;
      // The mutable state may only narrow the sealed terms: a later expiry or a larger budget
      // written into the hash is a forgery too.
      if (
        (s['expiresAt'] !== undefined && Number(s['expiresAt']) !== base.expiresAt) ||
        (s['maxCalls'] ?? '') !== (base.maxCalls === undefined ? '' : String(base.maxCalls))
      ) {
        this.forged('grant-state', base.id);
        continue;
      }
      grants.push({
        ...base,
        used: Number(s['used'] ?? base.used),
        ...(s['revokedAt'] === undefined ? {} : { revokedAt: Number(s['revokedAt']) }),
        ...(s['revokedBy'] === undefined ? {} : { revokedBy: s['revokedBy'] }),
      });
    }
    return grants;
  }

  grantsFor(agent: string, tenant: string, permission: string): Promise<Grant[]> {
    return this.guard('grantsFor', async () => {
      const ids = await this.client.zrevrange(this.grantIndex(agent, tenant, permission), 0, 99);
      return this.loadGrants(ids);
    });
  }

  listGrants(query: GrantQuery, now: number): Promise<Grant[]> {
    return this.guard('listGrants', async () => {
      const ids = await this.client.zrevrange(`${this.p}grants`, 0, LIST_LIMIT - 1);
      return (await this.loadGrants(ids)).filter((g) => matchesQuery(g, query, now));
    });
  }

  useGrant(id: string, now: number): Promise<UseResult> {
    return this.guard('useGrant', async () => {
      const [outcome] = await this.client.keywardUse(this.stateKey(id), String(now));
      if (outcome !== 'ok')
        return { ok: false, reason: outcome as 'missing' | 'revoked' | 'expired' | 'exhausted' };
      const grant = (await this.loadGrants([id]))[0];
      if (grant === undefined) return { ok: false, reason: 'missing' };
      return { ok: true, grant };
    });
  }

  revokeGrant(id: string, by: string, now: number): Promise<Grant | undefined> {
    return this.guard('revokeGrant', async () => {
      const outcome = await this.client.keywardRevoke(this.stateKey(id), String(now), by);
      if (outcome === 0) return undefined;
      if (outcome === 2) this.changed();
      return (await this.loadGrants([id]))[0];
    });
  }

  createApproval(input: NewApproval): Promise<PendingApproval> {
    return this.guard('createApproval', async () => {
      const approval: PendingApproval = { ...input, id: newId('a'), status: 'pending' };
      const ttl = retention(approval.requestedAt, approval.expiresAt);
      await this.client
        .multi()
        .set(this.approvalKey(approval.id), this.sealed('approval', approval.id, approval), 'PX', ttl)
        .zadd(
          this.approvalIndex(approval.agent, approval.tenant, approval.permission),
          approval.requestedAt,
          approval.id,
        )
        .zadd(`${this.p}approvals`, approval.requestedAt, approval.id)
        .exec();
      this.changed();
      return approval;
    });
  }

  private async loadApprovals(ids: readonly string[]): Promise<PendingApproval[]> {
    if (ids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.get(this.approvalKey(id)).get(this.answerKey(id));
    const results = (await pipeline.exec()) ?? [];
    const approvals: PendingApproval[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [e1, json] = results[i * 2] ?? [];
      const [e2, answer] = results[i * 2 + 1] ?? [];
      if (e1 || e2) throw e1 ?? e2;
      if (typeof json !== 'string') continue;
      const base = this.opened<PendingApproval>('approval', ids[i]!, json);
      if (base === undefined) continue;
      if (typeof answer !== 'string') {
        approvals.push(base);
        continue;
      }
      const state = this.opened<AnswerState>('answer', ids[i]!, answer);
      if (state !== undefined) approvals.push({ ...base, ...state });
    }
    return approvals;
  }

  getApproval(id: string): Promise<PendingApproval | undefined> {
    return this.guard('getApproval', async () => (await this.loadApprovals([id]))[0]);
  }

  findPendingApproval(
    agent: string,
    tenant: string,
    permission: string,
    now: number,
  ): Promise<PendingApproval | undefined> {
    return this.guard('findPendingApproval', async () => {
      const ids = await this.client.zrevrange(this.approvalIndex(agent, tenant, permission), 0, 49);
      return (await this.loadApprovals(ids)).find((a) => approvalStatusAt(a, now) === 'pending');
    });
  }

  listApprovals(status: ApprovalStatus | undefined, now: number): Promise<PendingApproval[]> {
    return this.guard('listApprovals', async () => {
      const ids = await this.client.zrevrange(`${this.p}approvals`, 0, LIST_LIMIT - 1);
      return (await this.loadApprovals(ids))
        .map((a) => ({ ...a, status: approvalStatusAt(a, now) }))
        .filter((a) => status === undefined || a.status === status);
    });
  }

  answerApproval(
    id: string,
    answer: ApprovalAnswer,
  ): Promise<{ approval: PendingApproval; grant?: Grant } | undefined> {
    return this.guard('answerApproval', async () => {
      const approval = (await this.loadApprovals([id]))[0];
      if (approval === undefined) return undefined;
      const status = approvalStatusAt(approval, answer.now);
      if (status !== 'pending') return { approval: { ...approval, status } };
      const grant: Grant | undefined = answer.approved
        ? { ...grantFromApproval(approval, answer), id: newId('g'), used: 0 }
        : undefined;
      const state: AnswerState = {
        status: answer.approved ? 'approved' : 'denied',
        answeredAt: answer.now,
        answeredBy: answer.by,
        ...(grant === undefined ? {} : { grantId: grant.id }),
      };
      const ttl = retention(approval.requestedAt, Math.max(approval.expiresAt, grant?.expiresAt ?? 0));
      const gid = grant?.id ?? 'none';
      const outcome = await this.client.keywardAnswer(
        this.approvalKey(id),
        this.answerKey(id),
        this.grantKey(gid),
        this.stateKey(gid),
        this.grantIndex(approval.agent, approval.tenant, approval.permission),
        `${this.p}grants`,
        this.sealed('answer', id, state),
        grant === undefined ? '' : this.sealed('grant', grant.id, grant),
        String(grant?.expiresAt ?? 0),
        grant?.maxCalls === undefined ? '' : String(grant.maxCalls),
        String(ttl),
        String(grant?.createdAt ?? answer.now),
        gid,
      );
      if (outcome === 0) return undefined;
      if (outcome === 1) {
        const current = (await this.loadApprovals([id]))[0];
        return current === undefined ? undefined : { approval: current };
      }
      this.changed();
      const answered: PendingApproval = { ...approval, ...state };
      return grant === undefined ? { approval: answered } : { approval: answered, grant };
    });
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.client.disconnect();
    this.subscriber.disconnect();
    return Promise.resolve();
  }
}
