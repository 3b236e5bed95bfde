/**
 * `keyward init`: creates a working starter directory (config, 0600 key file, empty encrypted
 * store) and prints the next steps and the Claude Desktop entry. Never overwrites without --force.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { DEFAULTS } from '../../config/defaults.js';
import { parseConfig, resolvePath } from '../../config/load.js';
import type { ConfigInput } from '../../config/schema.js';
import { createFileStore } from '../../secrets/file/file-backend.js';
import { action } from '../errors.js';

interface InitOptions {
  dir?: string;
  force?: boolean;
  /** Do nothing (successfully) when the config, key and store all exist already. */
  ifMissing?: boolean;
}

/** The starter config: one local agent, the file store, a GitHub credential, a read and an approved write tool. */
export function starterConfig(): ConfigInput {
  const repoInput = {
    owner: { type: 'string', description: 'account or organisation' },
    repo: { type: 'string', description: 'repository name' },
  };
  const headers = { Accept: 'application/vnd.github+json', 'User-Agent': 'keyward' };
  return {
    agents: { local: { roles: ['owner'], tenant: 'default' } },
    identity: { stdio: { agent: 'local' } },
    backends: { local: { type: 'file', path: './secrets.enc', keyPath: './master.key' } },
    credentials: {
      github: {
        backend: 'local',
        ref: 'github',
        inject: { type: 'header', header: 'Authorization', format: 'Bearer {value}' },
        origins: ['https://api.github.com'],
        cacheTtlSeconds: 60,
      },
    },
    tools: {
      github_get_repo: {
        description: 'Get a GitHub repository (name, description, stars, default branch, visibility)',
        permission: 'github:read',
        credential: 'github',
        request: { method: 'GET', url: 'https://api.github.com/repos/{owner}/{repo}', headers },
        input: {
          type: 'object',
          required: ['owner', 'repo'],
          properties: repoInput,
          additionalProperties: false,
        },
        annotations: { readOnlyHint: true, openWorldHint: true },
      },
      github_create_issue: {
        description: 'Open an issue in a GitHub repository (a human approves first)',
        permission: 'github:write',
        credential: 'github',
        request: {
          method: 'POST',
          url: 'https://api.github.com/repos/{owner}/{repo}/issues',
          headers,
          body: 'args',
        },
        input: {
          type: 'object',
          required: ['owner', 'repo', 'title'],
          properties: {
            ...repoInput,
            title: { type: 'string', maxLength: 256 },
            body: { type: 'string', maxLength: 65536 },
          },
          additionalProperties: false,
        },
        annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
      },
    },
    policy: {
      rules: [
        {
          id: 'github-read',
          effect: 'allow',
          roles: ['owner'],
          permissions: ['github:read'],
          rateLimit: { requests: 60, perSeconds: 60 },
        },
        {
          id: 'github-write',
          effect: 'approve',
          roles: ['owner'],
          permissions: ['github:write'],
          grantTtlSeconds: 900,
        },
      ],
    },
    cache: { type: 'memory' },
    audit: { type: 'sqlite', path: './audit.db' },
    grants: { store: 'sqlite', path: './grants.db' },
  };
}

/** This package's root (holds package.json named keyward), from src/ under tsx or dist/src once built. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        if ((JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'keyward') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

/**
 * The `keyward` binary of this package: package.json's `bin` (the esbuild bundle,
 * dist/bin/keyward.js, once `npm run build` has run; scripts/bundle.mjs).
 */
export function keywardBin(): string {
  const root = packageRoot();
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    bin: { keyward: string };
  };
  return path.join(root, pkg.bin.keyward);
}

/** The `mcpServers` entry for Claude Desktop's claude_desktop_config.json. */
export function claudeDesktopEntry(configFile: string): Record<string, unknown> {
  return {
    mcpServers: {
      keyward: {
        command: process.execPath,
        args: [keywardBin(), 'serve', '--config', configFile],
      },
    },
  };
}

export async function init(options: InitOptions): Promise<void> {
  const dir = resolvePath(options.dir ?? DEFAULTS.home, process.cwd());
  const configFile = path.join(dir, DEFAULTS.configFile);
  const keyFile = path.join(dir, 'master.key');
  const storeFile = path.join(dir, 'secrets.enc');
  const existing = [configFile, keyFile, storeFile].filter((f) => existsSync(f));
  if (options.ifMissing && existing.length === 3 && !options.force) {
    process.stderr.write(`keyward: using the existing setup in ${dir}\n`);
    return;
  }
  if (existing.length > 0 && !options.force) {
    throw new ConfigError(
      `refusing to overwrite ${existing.join(', ')} (use --force to replace; the old secrets become unreadable)`,
    );
  }
  const config = starterConfig();
  parseConfig(config, configFile, dir); // the starter must always be valid
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await createFileStore({ path: storeFile, keyPath: keyFile, force: options.force ?? false });
  if (options.force) rmSync(configFile, { force: true });
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });

  const out = process.stdout;
  out.write(
    `created ${configFile}\ncreated ${keyFile} (mode 0600; back it up: without it the store cannot be read)\n`,
  );
  out.write(`created ${storeFile} (mode 0600, empty)\n\n`);
  out.write('next steps:\n');
  out.write(
    '  1. store your GitHub token (from a hidden prompt, or piped on stdin; never on the command line):\n',
  );
  out.write(`       keyward secrets set github --config ${configFile}\n`);
  out.write(`  2. check the config:  keyward check --config ${configFile}\n`);
  out.write('  3. add keyward to Claude Desktop (claude_desktop_config.json), then restart it:\n\n');
  out.write(`${JSON.stringify(claudeDesktopEntry(configFile), null, 2)}\n`);
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('create a starter config, a 0600 key file and an empty encrypted secret store')
    .option('-d, --dir <dir>', `directory to create them in (default ${DEFAULTS.home})`)
    .option('-f, --force', 'overwrite existing files (existing secrets become unreadable)')
    .option('--if-missing', 'succeed without changes when the directory is already set up')
    .action(action(init));
}
