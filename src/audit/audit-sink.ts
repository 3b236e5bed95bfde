/**
 * AuditSink: the append-only, hash-chained audit trail. `append` resolves only when the event is
 * durable (or group-committed); it rejects when it cannot record, and the pipeline then fails
 * closed with audit_unavailable. Events never hold a secret value.
 */
import type { AuditEvent } from '../core/types.js';

/** A record read back: its type is whatever the trail holds (older versions, or an edited row). */
export interface AuditRecord extends Omit<AuditEvent, 'type'> {
  readonly type: string;
  readonly seq: number;
  readonly writer: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly records: number;
  readonly writers: number;
  /** One line per problem: which record, which writer, what is wrong (edited, inserted, deleted). */
  readonly problems: readonly string[];
}

export interface AuditQuery {
  readonly agent?: string;
  readonly tenant?: string;
  readonly tool?: string;
  readonly requestId?: string;
  readonly type?: string;
  readonly decision?: string;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly limit?: number;
}

export interface AuditSink {
  readonly kind: string;
  append(event: AuditEvent): Promise<void>;
  /** Waits until every appended event is durable. */
  flush(): Promise<void>;
  tail(limit: number): Promise<AuditRecord[]>;
  query(query: AuditQuery): Promise<AuditRecord[]>;
  verify(): Promise<VerifyReport>;
  probe(): Promise<{ ok: boolean; message: string }>;
  close(): Promise<void>;
}
