/**
 * `keyward secrets set|list|rm|rotate`: manage values in a writable backend (the local encrypted
 * file store by default). Values come from stdin or a no-echo prompt, never from argv, and are
 * never printed.
 */
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { ConfigError } from '../../core/errors.js';
import type { KeywardConfig } from '../../config/schema.js';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { createLogger } from '../../observability/logger.js';
import { createSecretBackend } from '../../secrets/registry.js';
import { withResilience } from '../../secrets/resilient-backend.js';
import type { SecretBackend } from '../../secrets/secret-backend.js';
import { action } from '../errors.js';
import { readSecretValue } from '../prompt.js';
import { escapeUntrusted } from '../../core/untrusted-text.js';

/** Backend types that can hold values written by the CLI. */
const WRITABLE_TYPES: ReadonlySet<string> = new Set(['file', 'vault', 'aws-secrets-manager']);

interface CommonOptions {
  config?: string;
  backend?: string;
}

/** --backend, else the only backend of a writable type, else the one named `local`. */
export function selectBackendName(config: KeywardConfig, explicit: string | undefined): string {
  const names = Object.keys(config.backends);
  const configured = names.length > 0 ? names.join(', ') : 'none';
  if (explicit !== undefined) {
    if (!config.backends[explicit])
      throw new ConfigError(`unknown backend "${explicit}" (configured: ${configured})`);
    return explicit;
  }
  const writable = names.filter((n) => WRITABLE_TYPES.has(config.backends[n]?.type ?? ''));
  if (writable.length === 1) return writable[0] as string;
  if (config.backends.local) return 'local';
  if (writable.length === 0) {
    throw new ConfigError(
      `no writable secret backend is configured (configured: ${configured}); run \`keyward init\``,
    );
  }
  throw new ConfigError(
    `several backends could hold the value (${writable.join(', ')}): choose one with --backend`,
  );
}

async function withBackend<T>(
  options: CommonOptions,
  run: (backend: SecretBackend, name: string, file: string) => Promise<T>,
): Promise<T> {
  const file = findConfigFile(options.config);
  const loaded = loadConfigFile(file);
  const name = selectBackendName(loaded.config, options.backend);
  const config = loaded.config.backends[name];
  if (!config) throw new ConfigError(`unknown backend "${name}"`);
  const logger = createLogger('warn');
  const raw = await createSecretBackend(name, config, {
    logger,
    clock: systemClock,
    baseDir: loaded.baseDir,
  });
  const backend = withResilience(raw, config, { logger, clock: systemClock, name });
  try {
    return await run(backend, name, file);
  } finally {
    await backend.close();
  }
}

function cannot(name: string, backend: SecretBackend, what: string): ConfigError {
  return new ConfigError(`backend "${name}" (${backend.kind}) cannot ${what}`);
}

export function registerSecretsCommand(program: Command): void {
  const secrets = program
    .command('secrets')
    .description(
      'store, list, rotate and remove secret values (values are read from stdin or a hidden prompt)',
    );

  const common = (cmd: Command): Command =>
    cmd
      .option('-c, --config <file>', 'config file')
      .option('-b, --backend <name>', 'backend to use (default: the only writable one, else "local")');

  common(
    secrets.command('set <name>').description('store a value (stdin when piped, else a hidden prompt)'),
  ).action(
    action(async (name: string, options: CommonOptions) => {
      await withBackend(options, async (backend, backendName) => {
        if (!backend.set) throw cannot(backendName, backend, 'store values');
        const value = await readSecretValue(`value for ${name}: `);
        const { version } = await backend.set(name, value);
        process.stdout.write(`stored ${name} version ${version} in backend "${backendName}"\n`);
      });
    }),
  );

  common(
    secrets.command('list').alias('ls').description('list names, versions and times (never values)'),
  ).action(
    action(async (options: CommonOptions) => {
      await withBackend(options, async (backend, backendName) => {
        if (!backend.list) throw cannot(backendName, backend, 'list secrets');
        const items = await backend.list();
        if (items.length === 0) {
          process.stdout.write(`no secrets in backend "${backendName}"\n`);
          return;
        }
        const rows = [
          ['NAME', 'VERSION', 'CREATED', 'UPDATED'],
          // names and versions come from the store: shown escaped
          ...items.map((s) =>
            [s.name, s.version, s.createdAt ?? '-', s.updatedAt ?? '-'].map((cell) => escapeUntrusted(cell)),
          ),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
        for (const row of rows) {
          process.stdout.write(
            `${row
              .map((cell, i) => cell.padEnd(widths[i] ?? 0))
              .join('  ')
              .trimEnd()}\n`,
          );
        }
      });
    }),
  );

  common(
    secrets.command('rm <name>').alias('remove').description('remove a value and all its versions'),
  ).action(
    action(async (name: string, options: CommonOptions) => {
      await withBackend(options, async (backend, backendName) => {
        if (!backend.remove) throw cannot(backendName, backend, 'remove secrets');
        await backend.remove(name);
        process.stdout.write(`removed ${name} from backend "${backendName}"\n`);
      });
    }),
  );

  common(
    secrets
      .command('rotate <name>')
      .description('write a new version (stdin or hidden prompt); running servers drop their cached copy')
      .option(
        '--trigger',
        'ask the backend to rotate by itself (e.g. AWS rotation function) instead of reading a value',
      ),
  ).action(
    action(async (name: string, options: CommonOptions & { trigger?: boolean }) => {
      await withBackend(options, async (backend, backendName) => {
        if (!backend.rotate) throw cannot(backendName, backend, 'rotate secrets');
        const value = options.trigger ? undefined : await readSecretValue(`new value for ${name}: `);
        const { version } = await backend.rotate(name, value, options.trigger ? { trigger: true } : {});
        process.stdout.write(`rotated ${name} to version ${version} in backend "${backendName}"\n`);
      });
    }),
  );
}
