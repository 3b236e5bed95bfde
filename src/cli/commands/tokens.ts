/** `keyward tokens create`: mints a static API token for remote agents; prints it once, with its config entry. */
import type { Command } from 'commander';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findConfigFile, parseConfig } from '../../config/load.js';
import { ConfigError } from '../../core/errors.js';
import { generateToken, sha256Hex } from '../../identity/token-hash.js';
import { action } from '../errors.js';

interface CreateOptions {
  agent: string;
  tenant?: string;
  role?: string[];
  id?: string;
  json?: boolean;
  config?: string;
}

const NAME = /^[\w.@:+-]{1,128}$/;

export function registerTokensCommand(program: Command): void {
  const tokens = program.command('tokens').description('static API tokens for remote (HTTP) agents');
  tokens
    .command('create')
    .description('create a token: prints it once, and the identity.tokens entry (its SHA-256) for the config')
    .requiredOption('--agent <name>', 'the agent the token acts as')
    .option('--tenant <tenant>', 'tenant (default: the agent entry’s tenant)')
    .option('--role <role...>', 'roles (default: the agent entry’s roles)')
    .option('--id <id>', 'a label for the token, used in logs and session binding (default: hash prefix)')
    .option('--json', 'print one JSON object { token, entry } instead of text')
    .option('-c, --config <file>', 'also add the entry to identity.tokens of this config file')
    .action(action(create));
}

/** Appends the entry to `identity.tokens` of the config file, keeping everything else; validates first. */
function addTokenEntry(file: string, entry: Record<string, unknown>): string {
  const absolute = findConfigFile(file);
  const raw = JSON.parse(readFileSync(absolute, 'utf8')) as Record<string, unknown>;
  const identity = (raw.identity ?? {}) as Record<string, unknown>;
  const tokens = Array.isArray(identity.tokens) ? (identity.tokens as unknown[]) : [];
  const updated = { ...raw, identity: { ...identity, tokens: [...tokens, entry] } };
  parseConfig(updated, absolute, path.dirname(absolute));
  const temp = `${absolute}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify(updated, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, absolute);
  return absolute;
}

function create(options: CreateOptions): void {
  for (const [flag, value] of [
    ['--agent', options.agent],
    ['--tenant', options.tenant],
    ['--id', options.id],
    ...(options.role ?? []).map((r) => ['--role', r] as const),
  ] as const) {
    if (value !== undefined && !NAME.test(value))
      throw new ConfigError(`${flag} "${value}" is not a valid name`);
  }
  const token = generateToken();
  const entry = {
    agent: options.agent,
    sha256: sha256Hex(token),
    ...(options.id === undefined ? {} : { id: options.id }),
    ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    ...(options.role === undefined ? {} : { roles: options.role }),
  };
  const added = options.config === undefined ? undefined : addTokenEntry(options.config, entry);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ token, entry })}\n`);
    return;
  }
  if (added !== undefined) {
    process.stdout.write(
      `token: ${token}\n\nThis is the only time the token is shown: give it to the agent (Authorization: Bearer <token>).\n` +
        `Its hash was added to identity.tokens in ${added}.\n`,
    );
    return;
  }
  process.stdout.write(
    [
      `token: ${token}`,
      '',
      'This is the only time the token is shown: give it to the agent (Authorization: Bearer <token>).',
      'Add this entry to identity.tokens in tools.config.json (it holds only the hash):',
      '',
      JSON.stringify(entry, null, 2),
      '',
    ].join('\n'),
  );
}
