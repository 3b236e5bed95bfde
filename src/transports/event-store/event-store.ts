/**
 * Resumable Streamable HTTP streams (MCP transport 2025-11-25, "Resumability and Redelivery"):
 * every message a session sends on an SSE stream is stored with an event id, so a client that lost
 * the connection can come back with GET + `Last-Event-ID` and receive what it missed.
 *
 * An event id names its stream: `<session id>.<stream number>.<sequence>`. Stream 0 is the
 * session's standalone GET stream, streams 1, 2, … are its POSTs (one per POST that carries
 * requests); sequence 0 is the stream's priming event (never stored: replaying after it replays the
 * whole stream), 1, 2, … its messages. Only the replica that holds the session writes its events.
 *
 * Bounded: a session keeps at most `maxSessionBytes` of events (the oldest go first; an event larger
 * than that alone is delivered but not stored), an event is dropped `ttlMs` after it was stored,
 * and the memory store holds at most `maxBytes` in all (beyond, new events are not stored).
 */

/** Who may resume a session's streams: the subject that created the session, as agent and tenant. */
export interface StreamOwner {
  /** SHA-256 (hex) of the session's `Authenticated.subject`: never the subject itself. */
  readonly subjectHash: string;
  readonly agent: string;
  readonly tenant: string;
}

export interface StoredEvent {
  readonly stream: number;
  readonly seq: number;
  /** The JSON-RPC message as sent (JSON text). */
  readonly data: string;
  /** The last response of its stream: nothing follows it. */
  readonly final: boolean;
}

/** The events of one session, held by the transport that serves it. */
export interface SessionEventLog {
  /** Stores one event; false when it was not stored (over a cap, or the store failed). */
  append(stream: number, seq: number, data: string, final: boolean): boolean | Promise<boolean>;
  /** The stored events of one stream with a sequence above `afterSeq`, in order. */
  eventsAfter(stream: number, afterSeq: number): Promise<StoredEvent[]>;
  /** The session ended for good (DELETE): its events are removed. */
  discard(): Promise<void>;
  /** The transport is going away (idle, shutdown): a memory log frees its events, a shared one keeps them until they expire. */
  release(): void;
}

/** Events of a session read by a replica that does not hold it, from a cursor on. */
export interface SessionEventsRead {
  readonly owner: StreamOwner | undefined;
  readonly events: readonly StoredEvent[];
  /** Pass back to read only what was stored after this read. */
  readonly cursor: number;
}

export interface EventStore {
  /** Whether other replicas see the events (Redis): then a replica can serve a resume for a session another holds. */
  readonly shared: boolean;
  openSession(sessionId: string, owner: StreamOwner): SessionEventLog;
  /** A session's owner and its events stored from `cursor` on (0: all it still holds). */
  read(sessionId: string, cursor: number): Promise<SessionEventsRead>;
  close(): Promise<void>;
}

export interface EventStoreLimits {
  /** How long an event is kept after it was stored. */
  readonly ttlMs: number;
  /** Bytes of events one session keeps. */
  readonly maxSessionBytes: number;
}

const SESSION_ID = /^[0-9A-Za-z-]{1,64}$/;

export interface EventId {
  readonly sessionId: string;
  readonly stream: number;
  readonly seq: number;
}

export function formatEventId(sessionId: string, stream: number, seq: number): string {
  return `${sessionId}.${stream}.${seq}`;
}

/** The parts of an event id this server issued, or undefined for anything else. */
export function parseEventId(text: string): EventId | undefined {
  const second = text.lastIndexOf('.');
  const first = text.lastIndexOf('.', second - 1);
  if (first <= 0 || second === -1) return undefined;
  const sessionId = text.slice(0, first);
  const stream = text.slice(first + 1, second);
  const seq = text.slice(second + 1);
  if (!SESSION_ID.test(sessionId) || !/^\d{1,9}$/.test(stream) || !/^\d{1,9}$/.test(seq)) return undefined;
  return { sessionId, stream: Number(stream), seq: Number(seq) };
}

/** Whether a request's principal is the owner of the session's events. */
export function ownedBy(owner: StreamOwner, subjectHash: string, agent: string, tenant: string): boolean {
  return owner.subjectHash === subjectHash && owner.agent === agent && owner.tenant === tenant;
}
