/**
 * GrantStore on SQLite (WAL): the server and `keyward grants` in another process share one file.
 * Consuming a call, answering an approval and revoking are single transactions, so two processes
 * never both win. `watch` polls `PRAGMA data_version` to notice changes made by other processes.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type {
  ApprovalAnswer,
  ApprovalStatus,
  ArgConstraints,
  Grant,
  GrantQuery,
  GrantStore,
  NewApproval,
  NewGrant,
  PendingApproval,
  UseResult,
} from '../grant-store.js';
import { approvalStatusAt, grantFromApproval, matchesQuery, newId } from '../memory-grant-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  tenant TEXT NOT NULL,
  permission TEXT NOT NULL,
  constraints TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  max_calls INTEGER,
  used INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  rule_id TEXT,
  justification TEXT,
  approval_id TEXT,
  revoked_at INTEGER,
  revoked_by TEXT
);
CREATE INDEX IF NOT EXISTS grants_principal ON grants (agent, tenant, permission, created_at);
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  tenant TEXT NOT NULL,
  tool TEXT,
  permission TEXT NOT NULL,
  args_summary TEXT NOT NULL,
  args_json TEXT,
  justification TEXT,
  constraints TEXT,
  ttl_seconds INTEGER NOT NULL,
  max_ttl_seconds INTEGER NOT NULL,
  max_calls INTEGER,
  rule_ids TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  answered_at INTEGER,
  answered_by TEXT,
  grant_id TEXT
);
CREATE INDEX IF NOT EXISTS approvals_principal ON approvals (agent, tenant, permission, status);
`;

interface GrantRow {
  id: string;
  agent: string;
  tenant: string;
  permission: string;
  constraints: string | null;
  created_at: number;
  expires_at: number;
  max_calls: number | null;
  used: number;
  created_by: string;
  rule_id: string | null;
  justification: string | null;
  approval_id: string | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

interface ApprovalRow {
  id: string;
  agent: string;
  tenant: string;
  tool: string | null;
  permission: string;
  args_summary: string;
  args_json: string | null;
  justification: string | null;
  constraints: string | null;
  ttl_seconds: number;
  max_ttl_seconds: number;
  max_calls: number | null;
  rule_ids: string;
  requested_at: number;
  expires_at: number;
  status: ApprovalStatus;
  answered_at: number | null;
  answered_by: string | null;
  grant_id: string | null;
}

function grantFromRow(r: GrantRow): Grant {
  return {
    id: r.id,
    agent: r.agent,
    tenant: r.tenant,
    permission: r.permission,
    ...(r.constraints === null ? {} : { constraints: JSON.parse(r.constraints) as ArgConstraints }),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    ...(r.max_calls === null ? {} : { maxCalls: r.max_calls }),
    used: r.used,
    createdBy: r.created_by,
    ...(r.rule_id === null ? {} : { ruleId: r.rule_id }),
    ...(r.justification === null ? {} : { justification: r.justification }),
    ...(r.approval_id === null ? {} : { approvalId: r.approval_id }),
    ...(r.revoked_at === null ? {} : { revokedAt: r.revoked_at }),
    ...(r.revoked_by === null ? {} : { revokedBy: r.revoked_by }),
  };
}

function approvalFromRow(r: ApprovalRow): PendingApproval {
  return {
    id: r.id,
    agent: r.agent,
    tenant: r.tenant,
    ...(r.tool === null ? {} : { tool: r.tool }),
    permission: r.permission,
    argsSummary: r.args_summary,
    ...(r.args_json === null || r.args_json === undefined ? {} : { argsJson: r.args_json }),
    ...(r.justification === null ? {} : { justification: r.justification }),
    ...(r.constraints === null ? {} : { constraints: JSON.parse(r.constraints) as ArgConstraints }),
    ttlSeconds: r.ttl_seconds,
    maxTtlSeconds: r.max_ttl_seconds,
    ...(r.max_calls === null ? {} : { maxCalls: r.max_calls }),
    ruleIds: JSON.parse(r.rule_ids) as string[],
    requestedAt: r.requested_at,
    expiresAt: r.expires_at,
    status: r.status,
    ...(r.answered_at === null ? {} : { answeredAt: r.answered_at }),
    ...(r.answered_by === null ? {} : { answeredBy: r.answered_by }),
    ...(r.grant_id === null ? {} : { grantId: r.grant_id }),
  };
}

export interface SqliteGrantStoreOptions {
  readonly path: string;
  /** How often `watch` polls for changes made by other processes. */
  readonly pollMs?: number;
}

export class SqliteGrantStore implements GrantStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = 0;

  constructor(private readonly options: SqliteGrantStoreOptions) {
    const onDisk = options.path !== ':memory:';
    if (onDisk) {
      mkdirSync(path.dirname(options.path), { recursive: true, mode: 0o700 });
      // Grants are authority: create the file owner-only before SQLite opens it.
      if (!existsSync(options.path)) closeSync(openSync(options.path, 'a', 0o600));
    }
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 2000');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    // Files written before approvals kept the exact arguments (issue 15) gain the column.
    const columns = this.db.prepare('PRAGMA table_info(approvals)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'args_json'))
      this.db.exec('ALTER TABLE approvals ADD COLUMN args_json TEXT');
    if (onDisk) {
      for (const file of [options.path, `${options.path}-wal`, `${options.path}-shm`]) {
        try {
          chmodSync(file, 0o600);
        } catch {
          // not created yet, or another user's file
        }
      }
    }
  }

  private insertGrant(grant: Grant): void {
    this.db
      .prepare(
        `INSERT INTO grants (id, agent, tenant, permission, constraints, created_at, expires_at, max_calls, used,
           created_by, rule_id, justification, approval_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        grant.id,
        grant.agent,
        grant.tenant,
        grant.permission,
        grant.constraints === undefined ? null : JSON.stringify(grant.constraints),
        grant.createdAt,
        grant.expiresAt,
        grant.maxCalls ?? null,
        grant.used,
        grant.createdBy,
        grant.ruleId ?? null,
        grant.justification ?? null,
        grant.approvalId ?? null,
      );
  }

  createGrant(input: NewGrant): Promise<Grant> {
    const grant: Grant = { ...input, id: newId('g'), used: 0 };
    this.insertGrant(grant);
    this.changedLocally();
    return Promise.resolve(grant);
  }

  getGrant(id: string): Promise<Grant | undefined> {
    const row = this.db.prepare('SELECT * FROM grants WHERE id = ?').get(id) as GrantRow | undefined;
    return Promise.resolve(row === undefined ? undefined : grantFromRow(row));
  }

  grantsFor(agent: string, tenant: string, permission: string): Promise<Grant[]> {
    const rows = this.db
      .prepare(
        'SELECT * FROM grants WHERE agent = ? AND tenant = ? AND permission = ? ORDER BY created_at DESC, rowid DESC LIMIT 100',
      )
      .all(agent, tenant, permission) as GrantRow[];
    return Promise.resolve(rows.map(grantFromRow));
  }

  listGrants(query: GrantQuery, now: number): Promise<Grant[]> {
    const rows = this.db
      .prepare('SELECT * FROM grants ORDER BY created_at DESC, rowid DESC')
      .all() as GrantRow[];
    return Promise.resolve(rows.map(grantFromRow).filter((g) => matchesQuery(g, query, now)));
  }

  useGrant(id: string, now: number): Promise<UseResult> {
    const use = this.db.transaction((): UseResult => {
      const row = this.db.prepare('SELECT * FROM grants WHERE id = ?').get(id) as GrantRow | undefined;
      if (row === undefined) return { ok: false, reason: 'missing' };
      if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (now >= row.expires_at) return { ok: false, reason: 'expired' };
      if (row.max_calls !== null && row.used >= row.max_calls) return { ok: false, reason: 'exhausted' };
      this.db.prepare('UPDATE grants SET used = used + 1 WHERE id = ?').run(id);
      return { ok: true, grant: grantFromRow({ ...row, used: row.used + 1 }) };
    });
    return Promise.resolve(use.immediate());
  }

  revokeGrant(id: string, by: string, now: number): Promise<Grant | undefined> {
    const revoke = this.db.transaction((): Grant | undefined => {
      this.db
        .prepare('UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL')
        .run(now, by, id);
      const row = this.db.prepare('SELECT * FROM grants WHERE id = ?').get(id) as GrantRow | undefined;
      return row === undefined ? undefined : grantFromRow(row);
    });
    const grant = revoke.immediate();
    if (grant !== undefined) this.changedLocally();
    return Promise.resolve(grant);
  }

  createApproval(input: NewApproval): Promise<PendingApproval> {
    const approval: PendingApproval = { ...input, id: newId('a'), status: 'pending' };
    this.db
      .prepare(
        `INSERT INTO approvals (id, agent, tenant, tool, permission, args_summary, args_json, justification,
           constraints, ttl_seconds, max_ttl_seconds, max_calls, rule_ids, requested_at, expires_at, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
      )
      .run(
        approval.id,
        approval.agent,
        approval.tenant,
        approval.tool ?? null,
        approval.permission,
        approval.argsSummary,
        approval.argsJson ?? null,
        approval.justification ?? null,
        approval.constraints === undefined ? null : JSON.stringify(approval.constraints),
        approval.ttlSeconds,
        approval.maxTtlSeconds,
        approval.maxCalls ?? null,
        JSON.stringify(approval.ruleIds),
        approval.requestedAt,
        approval.expiresAt,
      );
    this.changedLocally();
    return Promise.resolve(approval);
  }

  getApproval(id: string): Promise<PendingApproval | undefined> {
    const row = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined;
    return Promise.resolve(row === undefined ? undefined : approvalFromRow(row));
  }

  findPendingApproval(
    agent: string,
    tenant: string,
    permission: string,
    now: number,
  ): Promise<PendingApproval | undefined> {
    const row = this.db
      .prepare(
        `SELECT * FROM approvals WHERE agent = ? AND tenant = ? AND permission = ? AND status = 'pending'
           AND expires_at > ? ORDER BY requested_at DESC LIMIT 1`,
      )
      .get(agent, tenant, permission, now) as ApprovalRow | undefined;
    return Promise.resolve(row === undefined ? undefined : approvalFromRow(row));
  }

  listApprovals(status: ApprovalStatus | undefined, now: number): Promise<PendingApproval[]> {
    const rows = this.db
      .prepare('SELECT * FROM approvals ORDER BY requested_at DESC, rowid DESC')
      .all() as ApprovalRow[];
    return Promise.resolve(
      rows
        .map(approvalFromRow)
        .map((a) => ({ ...a, status: approvalStatusAt(a, now) }))
        .filter((a) => status === undefined || a.status === status),
    );
  }

  answerApproval(
    id: string,
    answer: ApprovalAnswer,
  ): Promise<{ approval: PendingApproval; grant?: Grant } | undefined> {
    const run = this.db.transaction((): { approval: PendingApproval; grant?: Grant } | undefined => {
      const row = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined;
      if (row === undefined) return undefined;
      const approval = approvalFromRow(row);
      const status = approvalStatusAt(approval, answer.now);
      if (status !== 'pending') return { approval: { ...approval, status } };
      let grant: Grant | undefined;
      if (answer.approved) {
        grant = { ...grantFromApproval(approval, answer), id: newId('g'), used: 0 };
        this.insertGrant(grant);
      }
      const newStatus: ApprovalStatus = answer.approved ? 'approved' : 'denied';
      this.db
        .prepare(
          'UPDATE approvals SET status = ?, answered_at = ?, answered_by = ?, grant_id = ? WHERE id = ?',
        )
        .run(newStatus, answer.now, answer.by, grant?.id ?? null, id);
      const answered: PendingApproval = {
        ...approval,
        status: newStatus,
        answeredAt: answer.now,
        answeredBy: answer.by,
        ...(grant === undefined ? {} : { grantId: grant.id }),
      };
      return grant === undefined ? { approval: answered } : { approval: answered, grant };
    });
    const result = run.immediate();
    if (result !== undefined) this.changedLocally();
    return Promise.resolve(result);
  }

  private changedLocally(): void {
    for (const listener of this.listeners) listener();
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.lastVersion = this.dataVersion();
      // data_version changes only when ANOTHER connection committed: exactly "another process".
      this.timer = setInterval(() => {
        const version = this.dataVersion();
        if (version !== this.lastVersion) {
          this.lastVersion = version;
          for (const l of this.listeners) l();
        }
      }, this.options.pollMs ?? 1000);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}
