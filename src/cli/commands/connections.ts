/**
 * `keyward connections list|revoke [--user U] [--provider P] [--tenant T]`: the per-user OAuth connections in
 * the token vaults (names, users, versions; never a token). `revoke` removes the stored tokens and
 * revokes them at the provider where it offers RFC 7009 revocation; each revoke is audited. A
 * running server notices at its next vault check (the credential's cacheTtlSeconds) or when the
 * API rejects the token, and the next call asks the user to connect again.
 */
import type { Command } from 'commander';
import { createAuditSink } from '../../audit/registry.js';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { systemClock } from '../../core/clock.js';
import { escapeUntrusted } from '../../core/untrusted-text.js';
import { ConnectionManager, type ConnectionFilter } from '../../connections/connection-manager.js';
import { createLogger } from '../../observability/logger.js';
import { createSecretBackend } from '../../secrets/registry.js';
import { withResilience } from '../../secrets/resilient-backend.js';
import type { SecretBackend } from '../../secrets/secret-backend.js';
import { action } from '../errors.js';

interface ConnectionsOptions {
  config?: string;
  user?: string;
  provider?: string;
  tenant?: string;
  json?: boolean;
}

export function registerConnectionsCommand(program: Command): void {
  const connections = program
    .command('connections')
    .description("per-user OAuth connections (users' tokens at providers, kept in the token vaults)");
  const common = (cmd: Command): Command =>
    cmd
      .option('-c, --config <file>', 'config file')
      .option('--user <user>', 'only this user')
      .option('--provider <provider>', 'only this provider')
      .option('--tenant <tenant>', "only this tenant's users (a user name is per tenant)");
  common(connections.command('list').description('list stored connections (never a token)'))
    .option('--json', 'print JSON')
    .action(action(listConnections));
  common(
    connections
      .command('revoke')
      .description('remove stored connections and revoke them at the provider (RFC 7009) where offered'),
  ).action(action(revokeConnections));
}

async function withManager<T>(
  options: ConnectionsOptions,
  run: (manager: ConnectionManager) => Promise<T>,
): Promise<T> {
  const { config, baseDir } = loadConfigFile(findConfigFile(options.config));
  const logger = createLogger(config.logging.level === 'info' ? 'warn' : config.logging.level);
  const clock = systemClock;
  const backends = new Map<string, SecretBackend>();
  const audit = await createAuditSink(config.audit, { logger, clock, baseDir });
  try {
    for (const [name, backendConfig] of Object.entries(config.backends)) {
      const raw = await createSecretBackend(name, backendConfig, { logger, clock, baseDir });
      backends.set(name, withResilience(raw, backendConfig, { logger, clock, name }));
    }
    return await run(new ConnectionManager({ config, backends, audit, clock, logger }));
  } finally {
    for (const backend of backends.values()) await backend.close().catch(() => undefined);
    await audit.close().catch(() => undefined);
  }
}

function filterOf(options: ConnectionsOptions): ConnectionFilter {
  return {
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.provider === undefined ? {} : { provider: options.provider }),
    ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
  };
}

async function listConnections(options: ConnectionsOptions): Promise<void> {
  const list = await withManager(options, (m) => m.list(filterOf(options)));
  if (options.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  if (list.length === 0) {
    process.stdout.write('no connections\n');
    return;
  }
  for (const c of list) {
    process.stdout.write(
      `${escapeUntrusted(c.provider)}\tuser ${escapeUntrusted(c.user ?? '?')}\ttenant ${escapeUntrusted(c.tenant ?? '-')}\t` +
        `credential ${escapeUntrusted(c.credential)}\tversion ${escapeUntrusted(c.version)}\t${escapeUntrusted(c.updatedAt ?? '')}\n`,
    );
  }
}

async function revokeConnections(options: ConnectionsOptions): Promise<void> {
  const user = process.env.USER ?? 'cli';
  const done = await withManager(options, (m) => m.revoke(filterOf(options), `cli:${user}`));
  if (done.length === 0) {
    process.stdout.write('no connections matched\n');
    return;
  }
  for (const { connection: c, revokedAtProvider } of done) {
    process.stdout.write(
      `revoked ${escapeUntrusted(c.provider)} connection of user ${escapeUntrusted(c.user ?? '?')} (tenant ${escapeUntrusted(c.tenant ?? '-')})` +
        `${revokedAtProvider ? ' (also revoked at the provider)' : ' (the provider offers no revocation: removed from the vault)'}\n`,
    );
  }
}
