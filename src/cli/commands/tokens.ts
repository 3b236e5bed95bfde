/** `keyward tokens create`: mints a static API token for remote agents; prints it once, with its config entry. */
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { generateToken, sha256Hex } from '../../identity/token-hash.js';
import { action } from '../errors.js';

interface CreateOptions {
  agent: string;
  tenant?: string;
  role?: string[];
  id?: string;
  json?: boolean;
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
    .action(action(create));
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
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ token, entry })}\n`);
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
