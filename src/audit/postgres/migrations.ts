/**
 * Versioned schema migrations of the PostgreSQL audit store, applied once at start under an
 * advisory lock so replicas starting together do not race.
 */
import type { PoolClient } from 'pg';

export interface Migration {
  readonly version: number;
  readonly description: string;
  /** SQL for schema `s` (already validated as [a-z_][a-z0-9_]* and quoted by the caller). */
  sql(s: string): string;
}

/** The compliance view's columns as migration 1 created them (later migrations add to the end). */
const V1_VIEW_COLUMNS = `e.id,
       e.time,
       e.type,
       e.agent,
       e.tenant,
       e.tool,
       j.r ->> 'permission' AS permission,
       e.decision,
       j.r -> 'ruleIds' AS rule_ids,
       j.r ->> 'outcome' AS outcome,
       j.r ->> 'errorCode' AS error_code,
       CASE WHEN jsonb_typeof(j.r -> 'status') = 'number' THEN (j.r ->> 'status')::numeric::int END AS status,
       CASE WHEN jsonb_typeof(j.r -> 'latencyMs') = 'number' THEN (j.r ->> 'latencyMs')::double precision END
         AS latency_ms,
       j.r ->> 'keyId' AS key_id,
       j.r ->> 'keyVersion' AS key_version,
       j.r ->> 'origin' AS origin,
       e.request_id,
       j.r ->> 'sessionId' AS session_id,
       j.r -> 'details' AS details,
       e.writer,
       e.seq,
       e.hash`;

/**
 * The record as jsonb can hold it. jsonb has no NUL (`\u0000`) and no lone surrogate, both of which
 * JSON.stringify writes as escapes when an agent's text carries them (a justification, say); cast
 * as is, such a row made every query of the view that reached it fail. Those escapes become visible
 * text (`\\u0000`, the escape an operator reads in the console); a literal backslash before them is
 * left alone. The table keeps the record exactly: it is what the chain hashes.
 */
const RECORD_AS_JSONB = String.raw`CASE WHEN strpos(e.record, '\u') = 0 THEN e.record
  ELSE regexp_replace(e.record, '(?<!\\)((?:\\\\)*)\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})', '\1\\\\u\2', 'g')
  END::jsonb`;

/** The read-only compliance view (the lateral join makes it not auto-updatable). */
function complianceView(
  s: string,
  create: 'CREATE VIEW' | 'CREATE OR REPLACE VIEW',
  columns: string,
  record = 'e.record::jsonb',
): string {
  return `${create} ${s}.audit_events_v AS
SELECT ${columns}
FROM ${s}.audit_events e
CROSS JOIN LATERAL (SELECT ${record} AS r) j;`;
}

const V3_VIEW_COLUMNS = `${V1_VIEW_COLUMNS},\n       j.r ->> 'user' AS user_name`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'append-only audit_events table, indexes, triggers, compliance view',
    sql: (s) => `
CREATE TABLE ${s}.audit_events (
  id bigserial PRIMARY KEY,
  writer text NOT NULL,
  seq bigint NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  time timestamptz,
  type text NOT NULL,
  agent text,
  tenant text,
  tool text,
  decision text,
  request_id text,
  record text NOT NULL
);
CREATE INDEX audit_events_writer_seq ON ${s}.audit_events (writer, seq, id);
CREATE INDEX audit_events_time ON ${s}.audit_events (time);
CREATE INDEX audit_events_agent ON ${s}.audit_events (agent, time);
CREATE INDEX audit_events_tenant ON ${s}.audit_events (tenant, time);
CREATE INDEX audit_events_tool ON ${s}.audit_events (tool, time);
CREATE INDEX audit_events_request ON ${s}.audit_events (request_id);

CREATE FUNCTION ${s}.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON ${s}.audit_events
  FOR EACH ROW EXECUTE FUNCTION ${s}.audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON ${s}.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.audit_events_append_only();

-- Read-only (the lateral join makes it not auto-updatable) view for compliance queries.
${complianceView(s, 'CREATE VIEW', V1_VIEW_COLUMNS)}
`,
  },
  {
    version: 2,
    description: 'cheaper indexes: BRIN on time; no per-column agent/tenant/tool/request_id btrees',
    // Each btree costs every INSERT a page update and its WAL. Rows are appended in time order, so
    // a BRIN index (a few pages for millions of rows) serves time ranges; the filter columns are
    // matched while scanning back from the newest id (tail and query order by id DESC).
    sql: (s) => `
DROP INDEX IF EXISTS ${s}.audit_events_time;
DROP INDEX IF EXISTS ${s}.audit_events_agent;
DROP INDEX IF EXISTS ${s}.audit_events_tenant;
DROP INDEX IF EXISTS ${s}.audit_events_tool;
DROP INDEX IF EXISTS ${s}.audit_events_request;
CREATE INDEX audit_events_time_brin ON ${s}.audit_events USING brin (time) WITH (autosummarize = on);
`,
  },
  {
    version: 3,
    description: 'compliance view: user_name, the person the agent acted for',
    // The field lives in the record (no table change); CREATE OR REPLACE may only add columns at the end.
    sql: (s) => complianceView(s, 'CREATE OR REPLACE VIEW', V3_VIEW_COLUMNS),
  },
  {
    version: 4,
    description: 'compliance view: records with NUL or lone surrogates in agent-written text',
    sql: (s) => complianceView(s, 'CREATE OR REPLACE VIEW', V3_VIEW_COLUMNS, RECORD_AS_JSONB),
  },
];

/** Creates the schema and applies the migrations not applied yet, in one transaction. */
export async function migrate(client: PoolClient, schema: string): Promise<number[]> {
  const s = `"${schema}"`;
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`keyward-audit:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.audit_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ version: number }>(`SELECT version FROM ${s}.audit_migrations`);
    const have = new Set(done.rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (have.has(m.version)) continue;
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${s}.audit_migrations (version, description) VALUES ($1, $2)`, [
        m.version,
        m.description,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
