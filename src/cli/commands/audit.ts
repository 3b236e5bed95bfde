/** `keyward audit verify|tail|query`: check the hash chains and read the audit trail of the configured store. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { systemClock } from '../../core/clock.js';
import { silentLogger } from '../../observability/logger.js';
import { createAuditSink } from '../../audit/registry.js';
import type { AuditQuery, AuditRecord, AuditSink } from '../../audit/audit-sink.js';
import { action } from '../errors.js';
import { escapeUntrusted } from '../../core/untrusted-text.js';

interface ConfigOption {
  config?: string;
}
interface OutputOptions extends ConfigOption {
  json?: boolean;
}
interface TailOptions extends OutputOptions {
  lines: string;
}
interface QueryOptions extends OutputOptions {
  agent?: string;
  tenant?: string;
  tool?: string;
  requestId?: string;
  type?: string;
  decision?: string;
  since?: string;
  until?: string;
  limit: string;
}

function count(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, got "${value}"`);
  return n;
}

/** Opens the sink configured in the config file; a missing SQLite file is an error, not a new store. */
async function openSink(options: ConfigOption): Promise<{ sink: AuditSink; where: string }> {
  const { config, baseDir } = loadConfigFile(findConfigFile(options.config));
  const audit = config.audit;
  if (audit.type === 'sqlite' && !existsSync(audit.path)) {
    throw new Error(`no audit database at ${audit.path} (nothing has been recorded yet)`);
  }
  const sink = await createAuditSink(audit, { logger: silentLogger(), clock: systemClock, baseDir });
  const where = audit.type === 'sqlite' ? `sqlite ${audit.path}` : `postgres schema ${audit.schema}`;
  return { sink, where };
}

async function withSink<T>(
  options: ConfigOption,
  fn: (sink: AuditSink, where: string) => Promise<T>,
): Promise<T> {
  const { sink, where } = await openSink(options);
  try {
    return await fn(sink, where);
  } finally {
    await sink.close();
  }
}

/** One human-readable line per record. */
export function formatRecord(r: AuditRecord): string {
  const who = r.agent === undefined ? '-' : r.tenant === undefined ? r.agent : `${r.agent}@${r.tenant}`;
  const parts = [r.time, r.type, who, r.tool ?? '-'];
  if (r.decision !== undefined) parts.push(r.decision);
  if (r.outcome !== undefined) parts.push(r.outcome);
  if (r.errorCode !== undefined) parts.push(r.errorCode);
  if (r.status !== undefined) parts.push(String(r.status));
  if (r.latencyMs !== undefined) parts.push(`${r.latencyMs}ms`);
  if (r.keyId !== undefined)
    parts.push(`key=${r.keyId}${r.keyVersion === undefined ? '' : `@${r.keyVersion}`}`);
  if (r.requestId !== undefined) parts.push(`req=${r.requestId}`);
  parts.push(`#${r.writer}/${r.seq}`);
  // A record's fields may carry text an agent or upstream chose: never raw control characters.
  return escapeUntrusted(parts.join('  '));
}

function print(records: readonly AuditRecord[], json: boolean | undefined): void {
  const lines = records.map((r) => (json ? JSON.stringify(r) : formatRecord(r)));
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

async function verify(options: ConfigOption): Promise<void> {
  await withSink(options, async (sink, where) => {
    const report = await sink.verify();
    if (report.ok) {
      process.stdout.write(
        `ok: ${report.records} records in ${report.writers} writer chain${report.writers === 1 ? '' : 's'} verified (${where})\n`,
      );
      return;
    }
    process.stdout.write(
      `FAILED: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${report.records} records, ` +
        `${report.writers} writer chains (${where})\n`,
    );
    for (const p of report.problems) process.stdout.write(`  ${escapeUntrusted(p)}\n`);
    process.exitCode = 1;
  });
}

async function tail(options: TailOptions): Promise<void> {
  const n = count('-n', options.lines);
  await withSink(options, async (sink) => print(await sink.tail(n), options.json));
}

async function query(options: QueryOptions): Promise<void> {
  const q: { -readonly [K in keyof AuditQuery]: AuditQuery[K] } = { limit: count('--limit', options.limit) };
  for (const key of ['agent', 'tenant', 'tool', 'requestId', 'type', 'decision', 'since', 'until'] as const) {
    const value = options[key];
    if (value !== undefined) q[key] = value;
  }
  await withSink(options, async (sink) => print(await sink.query(q), options.json));
}

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('verify and read the tamper-evident audit trail');
  audit
    .command('verify')
    .description(
      'check every writer chain; exit 1 and list each problem if a record was edited, inserted or deleted',
    )
    .option('-c, --config <file>', 'config file')
    .action(action(verify));
  audit
    .command('tail')
    .description('print the most recent records, oldest first')
    .option('-c, --config <file>', 'config file')
    .option('-n, --lines <n>', 'number of records', '20')
    .option('--json', 'one JSON record per line')
    .action(action(tail));
  audit
    .command('query')
    .description('print the most recent records matching every given filter, oldest first')
    .option('-c, --config <file>', 'config file')
    .option('--agent <agent>', 'agent name')
    .option('--tenant <tenant>', 'tenant')
    .option('--tool <tool>', 'tool name')
    .option('--request-id <id>', 'the requestId an agent was given in an error')
    .option('--type <type>', 'event type, e.g. call.completed')
    .option('--decision <decision>', 'policy decision, e.g. deny')
    .option('--since <time>', 'ISO 8601 time, inclusive')
    .option('--until <time>', 'ISO 8601 time, exclusive')
    .option('--limit <n>', 'maximum number of records', '100')
    .option('--json', 'one JSON record per line')
    .action(action(query));
}
