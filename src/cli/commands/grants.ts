/**
 * `keyward grants list|approve ID [--ttl S]|deny ID|revoke ID`: the operator's side of runtime
 * capabilities. Works on the configured grant store (SQLite by default), so it acts on a running
 * server in another process: an approval lets the agent's retry succeed, a revocation denies the
 * very next call. Every change is audited.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { AuditSink } from '../../audit/audit-sink.js';
import { createAuditSink } from '../../audit/registry.js';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import type { KeywardConfig } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import type { AuditEvent } from '../../core/types.js';
import { silentLogger } from '../../observability/logger.js';
import { boundUntrusted, escapeUntrusted } from '../../core/untrusted-text.js';
import {
  grantScope,
  GRANTED_USER,
  PINNED_ARGS,
  type Grant,
  type GrantStore,
  type PendingApproval,
} from '../../policy/grant-store.js';
import { createGrantStore } from '../../policy/grant-store-registry.js';
import { action } from '../errors.js';
import { ApprovalDesk, type DeskOperator } from '../../policy/approval-desk.js';

interface GrantsOptions {
  config?: string;
  json?: boolean;
  by?: string;
}
interface ApproveOptions extends GrantsOptions {
  ttl?: string;
  anyArgs?: boolean;
}

function operator(options: GrantsOptions): string {
  let name = options.by;
  if (name === undefined) {
    try {
      name = userInfo().username;
    } catch {
      name = 'unknown';
    }
  }
  return `operator:${name}`;
}

async function withStore<T>(
  options: GrantsOptions,
  fn: (store: GrantStore, desk: ApprovalDesk, config: KeywardConfig) => Promise<T>,
): Promise<T> {
  const { config, baseDir } = loadConfigFile(findConfigFile(options.config));
  if (config.grants.store === 'memory') {
    throw new Error(
      'grants.store is "memory": grants live inside the server process; use sqlite or redis to manage them here',
    );
  }
  const logger = silentLogger();
  const store = await createGrantStore({ config, logger, clock: systemClock, baseDir });
  let sink: AuditSink | undefined;
  const audit = async (event: AuditEvent): Promise<void> => {
    sink ??= await createAuditSink(config.audit, { logger, clock: systemClock, baseDir });
    await sink.append(event);
    await sink.flush();
  };
  try {
    return await fn(store, new ApprovalDesk(store, audit, systemClock), config);
  } finally {
    await store.close();
    await sink?.close().catch(() => undefined);
  }
}

function operatorOf(options: GrantsOptions): DeskOperator {
  return { name: operator(options).slice('operator:'.length), channel: 'cli' };
}

function warn(warning: string | undefined): void {
  if (warning !== undefined) process.stderr.write(`warning: ${warning}\n`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

// Every field below may hold text an agent chose (names are config-bound, but justifications,
// argument summaries and tool-supplied values are not): escaped, so nothing redraws the terminal.
function describeGrant(g: Grant): string {
  const calls = g.maxCalls === undefined ? '' : `, ${g.maxCalls - g.used}/${g.maxCalls} calls left`;
  const line = `${g.id}  ${g.agent}@${g.tenant}  ${g.permission}  until ${iso(g.expiresAt)}${calls}  scope: ${grantScope(g.constraints)}  (by ${g.createdBy})`;
  return escapeUntrusted(line);
}

function describeApproval(a: PendingApproval): string {
  const what = a.tool === undefined ? a.permission : `${a.permission} via ${a.tool}`;
  const scope =
    a.constraints?.[PINNED_ARGS] !== undefined
      ? 'these arguments only (approve --any-args to widen)' +
        (a.constraints[GRANTED_USER] === undefined
          ? ''
          : `, for user ${JSON.stringify(a.constraints[GRANTED_USER])} only`)
      : grantScope(a.constraints);
  const line = `${a.id}  ${a.agent}@${a.tenant}  ${what}  ttl ${a.ttlSeconds}s (max ${a.maxTtlSeconds}s)  rules ${a.ruleIds.join(',')}  scope: ${scope}`;
  // The exact arguments a pinned approval covers, in full: a prefix would let the agent pad the
  // start and put what matters past the cut (the console shows them in full too).
  const args =
    a.argsJson === undefined
      ? `\n      args (from the agent, unverified): ${boundUntrusted(a.argsSummary, 300)}`
      : `\n      exact args (from the agent, unverified): ${escapeUntrusted(a.argsJson)}`;
  const why =
    a.justification === undefined
      ? ''
      : `\n      justification (from the agent, unverified): ${boundUntrusted(a.justification, 500)}`;
  return escapeUntrusted(line) + args + why;
}

export function registerGrantsCommand(program: Command): void {
  const grants = program.command('grants').description('list, approve, deny and revoke runtime grants');

  grants
    .command('list')
    .description('pending approval requests and live grants, with their ids')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .action(
      action(async (options: GrantsOptions) => {
        await withStore(options, async (store) => {
          const now = systemClock.now();
          const pending = await store.listApprovals('pending', now);
          const live = await store.listGrants({}, now);
          if (options.json) {
            process.stdout.write(`${JSON.stringify({ pending, grants: live }, null, 2)}\n`);
            return;
          }
          process.stdout.write(`pending approvals (${pending.length}):\n`);
          for (const a of pending) process.stdout.write(`  ${describeApproval(a)}\n`);
          process.stdout.write(`live grants (${live.length}):\n`);
          for (const g of live) process.stdout.write(`  ${describeGrant(g)}\n`);
        });
      }),
    );

  grants
    .command('approve <id>')
    .description('approve a pending request; the agent’s retry then succeeds')
    .option('-c, --config <file>', 'config file')
    .option('--ttl <seconds>', 'grant lifetime in seconds (capped by the rule)')
    .option('--any-args', 'let the grant cover any arguments, not only those of the call that asked')
    .option('--by <name>', 'who approves (default: the OS user)')
    .action(
      action(async (id: string, options: ApproveOptions) => {
        let ttlSeconds: number | undefined;
        if (options.ttl !== undefined) {
          ttlSeconds = Number(options.ttl);
          if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
            throw new Error('--ttl must be a positive whole number of seconds');
        }
        await withStore(options, async (_store, desk) => {
          const { value } = await desk.approve(id, operatorOf(options), {
            ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
            ...(options.anyArgs === true ? { anyArgs: true } : {}),
          });
          const grant = value.grant;
          process.stdout.write(`approved ${id}: grant ${describeGrant(grant)}\n`);
        });
      }),
    );

  grants
    .command('deny <id>')
    .description('decline a pending request')
    .option('-c, --config <file>', 'config file')
    .option('--reason <text>', 'why (recorded in the audit trail)')
    .option('--by <name>', 'who declines (default: the OS user)')
    .action(
      action(async (id: string, options: GrantsOptions & { reason?: string }) => {
        await withStore(options, async (_store, desk) => {
          warn((await desk.deny(id, operatorOf(options), options.reason)).warning);
          process.stdout.write(`denied ${id}\n`);
        });
      }),
    );

  grants
    .command('revoke <id>')
    .description('revoke a grant at once: the next call relying on it is denied')
    .option('-c, --config <file>', 'config file')
    .option('--by <name>', 'who revokes (default: the OS user)')
    .action(
      action(async (id: string, options: GrantsOptions) => {
        await withStore(options, async (_store, desk) => {
          warn((await desk.revoke(id, operatorOf(options))).warning);
          process.stdout.write(`revoked ${id}\n`);
        });
      }),
    );
}
