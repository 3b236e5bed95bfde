/** Shared by the SQL sinks: stored row → AuditRecord, and the time range of an AuditQuery. */
import type { AuditQuery, AuditRecord } from './audit-sink.js';

/** The record a stored body holds; an unreadable (edited) body falls back to the indexed columns. */
export function recordFromRow(
  body: string,
  hash: string,
  fallback: { writer: string; seq: number; prevHash: string; type: string; time: string },
): AuditRecord {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return { ...(parsed as AuditRecord), hash };
    }
  } catch {
    // fall through
  }
  return { ...fallback, hash, details: { unreadable: true } };
}

function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`invalid ${name} time "${value}": use an ISO 8601 time`);
  return ms;
}

/** `since` is inclusive, `until` exclusive, both as epoch ms. Throws on an unparseable time. */
export function queryTimeRange(query: AuditQuery): { sinceMs?: number; untilMs?: number } {
  const out: { sinceMs?: number; untilMs?: number } = {};
  const sinceMs = parseTime('since', query.since);
  const untilMs = parseTime('until', query.until);
  if (sinceMs !== undefined) out.sinceMs = sinceMs;
  if (untilMs !== undefined) out.untilMs = untilMs;
  return out;
}
