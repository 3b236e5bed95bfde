/**
 * `keyward check`: validates a config (problems named by JSON path), compiles the policy and every
 * tool (OpenAPI tool sources included), warns about drifted imported tools, and with --probe
 * connects to every secret backend.
 */
import type { Command } from 'commander';
import { configuredHttpIssues } from '../../config/http-bind.js';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { ConfigError } from '../../core/errors.js';
import { systemClock } from '../../core/clock.js';
import { silentLogger } from '../../observability/logger.js';
import { checkGeneratedDrift, regenerateImportedTools } from '../../openapi/drift.js';
import { probeBackends } from '../../secrets/probe.js';
import { compileConfiguredTools } from '../../server/compose.js';
import { action } from '../errors.js';
import { defaultApprovalMode } from '../../policy/approval-mode.js';

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
  const { config, baseDir } = loaded;
  // What `serve --http` would refuse at start (bind without authentication, no agent to act as).
  const serveIssues = configuredHttpIssues(config);
  if (serveIssues.length > 0) throw new ConfigError(`invalid config ${file}`, serveIssues);
  // The same compile half as the server's composition root (policy, tool sources, every tool).
  const tools = await compileConfiguredTools(loaded);
  const out = process.stdout;
  out.write(
    `ok: ${file}\n  ${tools.size} tools, ${Object.keys(config.credentials).length} credentials, ` +
      `${Object.keys(config.backends).length} backends, ${config.policy.rules.length} policy rules\n`,
  );
  for (const rule of config.policy.rules) {
    if (rule.effect !== 'approve') continue;
    const who =
      rule.approval === undefined
        ? `${defaultApprovalMode({ authMethod: 'stdio' })} on stdio, ${defaultApprovalMode({ authMethod: 'jwt' })} over HTTP (default)`
        : rule.approval;
    out.write(`  approve rule ${rule.id}: approved by ${who}\n`);
  }

  if (Object.values(config.tools).some((t) => t.generated !== undefined)) {
    const { tools: now, errors } = await regenerateImportedTools(config, baseDir);
    for (const line of [...errors, ...checkGeneratedDrift(config, now)]) out.write(`warning: ${line}\n`);
  }

  if (options.probe) {
    const results = await probeBackends(config, { logger: silentLogger(), clock: systemClock, baseDir });
    let failed = 0;
    for (const r of results) {
      out.write(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.kind}): ${r.message}\n`);
      if (!r.ok) failed++;
    }
    if (failed > 0) {
      process.stderr.write(`error: ${failed} backend check(s) failed\n`);
      process.exitCode = 1;
    }
  }
}
