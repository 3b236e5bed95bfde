/**
 * `keyward tokens create`: mints a static API token for a remote agent (`--agent`, identity.tokens)
 * or for an operator of the approval console (`--operator`, console.operators); prints it once,
 * with its config entry (only the SHA-256 is stored).
 */
import type { Command } from 'commander';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findConfigFile, parseConfig } from '../../config/load.js';
import { ConfigError } from '../../core/errors.js';
import { generateToken, sha256Hex } from '../../identity/token-hash.js';
import { action } from '../errors.js';

interface CreateOptions {
  agent?: string;
  operator?: string;
  tenant?: string;
  role?: string[];
  id?: string;
  json?: boolean;
  config?: string;
}

const NAME = /^[\w.@:+-]{1,128}$/;

export function registerTokensCommand(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('static API tokens for remote (HTTP) agents and console operators');
  tokens
    .command('create')
    .description('create a token: prints it once, and the config entry (its SHA-256) for the config')
    .option('--agent <name>', 'the agent the token acts as (identity.tokens)')
    .option('--operator <name>', 'an operator of the approval console instead (console.operators)')
    .option('--tenant <tenant>', 'tenant (default: the agent entry’s tenant)')
    .option('--role <role...>', 'roles (default: the agent entry’s roles)')
    .option('--id <id>', 'a label for the token, used in logs and session binding (default: hash prefix)')
    .option('--json', 'print one JSON object { token, entry } instead of text')
    .option('-c, --config <file>', 'also add the entry to identity.tokens of this config file')
    .action(action(create));
}

/**
 * Appends the entry to `identity.tokens` (or `console.operators`) of the config file, keeping
 * everything else; validates first.
 */
function addTokenEntry(
  file: string,
  entry: Record<string, unknown>,
  section: 'identity' | 'console',
): string {
  const absolute = findConfigFile(file);
  const raw = JSON.parse(readFileSync(absolute, 'utf8')) as Record<string, unknown>;
  const list = section === 'identity' ? 'tokens' : 'operators';
  const parent = (raw[section] ?? {}) as Record<string, unknown>;
  const entries = Array.isArray(parent[list]) ? (parent[list] as unknown[]) : [];
  const updated = { ...raw, [section]: { ...parent, [list]: [...entries, entry] } };
  parseConfig(updated, absolute, path.dirname(absolute));
  const temp = `${absolute}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify(updated, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, absolute);
  return absolute;
}

function create(options: CreateOptions): void {
  if ((options.agent === undefined) === (options.operator === undefined))
    throw new ConfigError(
      'give either --agent NAME (an agent token) or --operator NAME (a console operator)',
    );
  for (const [flag, value] of [
    ['--agent', options.agent],
    ['--operator', options.operator],
    ['--tenant', options.tenant],
    ['--id', options.id],
    ...(options.role ?? []).map((r) => ['--role', r] as const),
  ] as const) {
    if (value !== undefined && !NAME.test(value))
      throw new ConfigError(`${flag} "${value}" is not a valid name`);
  }
  if (options.operator !== undefined && (options.tenant ?? options.role ?? options.id) !== undefined)
    throw new ConfigError('--tenant, --role and --id are for agent tokens, not operators');
  const token = generateToken();
  const operator = options.operator !== undefined;
  const entry = operator
    ? { name: options.operator, sha256: sha256Hex(token) }
    : {
        agent: options.agent,
        sha256: sha256Hex(token),
        ...(options.id === undefined ? {} : { id: options.id }),
        ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
        ...(options.role === undefined ? {} : { roles: options.role }),
      };
  const section = operator ? 'console' : 'identity';
  const where = operator ? 'console.operators' : 'identity.tokens';
  const who = operator
    ? 'give it to the operator: it signs in to the approval console at /console/'
    : 'give it to the agent (Authorization: Bearer <token>)';
  const added = options.config === undefined ? undefined : addTokenEntry(options.config, entry, section);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ token, entry })}\n`);
    return;
  }
  if (added !== undefined) {
    process.stdout.write(
      `token: ${token}\n\nThis is the only time the token is shown: ${who}.\n` +
        `Its hash was added to ${where} in ${added}.\n`,
    );
    return;
  }
  process.stdout.write(
    [
      `token: ${token}`,
      '',
      `This is the only time the token is shown: ${who}.`,
      `Add this entry to ${where} in tools.config.json (it holds only the hash):`,
      '',
      JSON.stringify(entry, null, 2),
      '',
    ].join('\n'),
  );
}
