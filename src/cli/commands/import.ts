/**
 * `keyward import openapi SPEC`: turns an OpenAPI 3.0/3.1 or Swagger 2.0 document into tool entries
 * and writes them into the config file (keeping everything else), or prints them with --print.
 * Unsupported bits are reported on stderr with the operation they come from.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { findConfigFile, parseConfig } from '../../config/load.js';
import { isUrl, loadSpec } from '../../openapi/load-spec.js';
import { mergeImport } from '../../openapi/merge-config.js';
import { openApiToTools, type ImportIssue } from '../../openapi/to-tools.js';
import { action } from '../errors.js';

export interface ImportCommandOptions {
  credential?: string;
  tag?: string[];
  operation?: string[];
  permissionPrefix?: string;
  baseUrl?: string;
  config?: string;
  print?: boolean;
  force?: boolean;
}

export interface ImportOutcome {
  /** What goes to stdout. */
  readonly stdout: string;
  /** Warnings and unsupported bits, one per line, for stderr. */
  readonly stderr: string;
  /** The config file written, unless --print. */
  readonly file?: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

function formatIssue(issue: ImportIssue): string {
  return `warning: ${issue.operation}: ${issue.message}${issue.skipped ? ' (operation skipped)' : ''}`;
}

/** Does the work of the command without touching the process (tests call it directly). */
export async function runImportOpenApi(spec: string, options: ImportCommandOptions): Promise<ImportOutcome> {
  const configFile = options.print ? undefined : findConfigFile(options.config);
  const configDir = configFile ? path.dirname(configFile) : process.cwd();
  const started = performance.now();
  const loaded = await loadSpec(spec);
  // The source is recorded relative to the config file, so the config directory can move as a whole.
  const source = isUrl(spec)
    ? spec
    : path.relative(configDir, loaded.location).split(path.sep).join('/') || '.';
  const result = openApiToTools(loaded.document, {
    source,
    credential: options.credential,
    tags: options.tag,
    operations: options.operation,
    permissionPrefix: options.permissionPrefix,
    baseUrl: options.baseUrl,
    specUrl: isUrl(spec) ? spec : undefined,
  });
  const elapsedMs = Math.round(performance.now() - started);
  const errLines = result.issues.map(formatIssue);
  const count = Object.keys(result.definitions).length;

  if (options.print || !configFile) {
    const printed: Record<string, unknown> = { tools: result.definitions };
    if (options.credential && result.security?.inject) {
      const origins = [...result.origins];
      if (result.security.tokenOrigin && !origins.includes(result.security.tokenOrigin))
        origins.push(result.security.tokenOrigin);
      printed.credentials = {
        [options.credential]: {
          backend: 'local',
          ref: options.credential,
          inject: result.security.inject,
          origins,
        },
      };
    }
    errLines.push(`${count} tools from ${result.operationCount} operations in ${elapsedMs} ms`);
    return {
      stdout: `${JSON.stringify(printed, null, 2)}\n`,
      stderr: errLines.map((l) => `${l}\n`).join(''),
    };
  }

  let raw: Record<string, unknown> = {};
  if (existsSync(configFile)) {
    try {
      raw = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`${configFile} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const merged = mergeImport(raw, result, { force: options.force, credential: options.credential });
  errLines.push(...merged.warnings.map((w) => `warning: ${w}`));
  for (const name of merged.refused) {
    errLines.push(`warning: tools.${name} is hand-written and was kept; pass --force to replace it`);
  }
  if (merged.added.length + merged.updated.length === 0) {
    return {
      stdout: `nothing imported: ${result.operationCount} operations, none selected or compiled\n`,
      stderr: errLines.map((l) => `${l}\n`).join(''),
    };
  }
  // Refuse to write a config keyward would then reject.
  parseConfig(merged.config, configFile, configDir);
  const tmp = `${configFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(merged.config, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, configFile);
  const lines = [
    `imported ${merged.added.length + merged.updated.length} tools (${merged.added.length} new, ${merged.updated.length} updated) from ${result.operationCount} operations in ${elapsedMs} ms into ${configFile}`,
  ];
  if (merged.credentialAdded) lines.push(`added credential "${merged.credentialAdded}"`);
  lines.push('next: add policy rules for the new permissions, then run `keyward check`');
  return {
    stdout: lines.map((l) => `${l}\n`).join(''),
    stderr: errLines.map((l) => `${l}\n`).join(''),
    file: configFile,
  };
}

export function registerImportCommand(program: Command): void {
  const importCommand = program.command('import').description('import tools from an API description');
  importCommand
    .command('openapi')
    .description('turn an OpenAPI 3.x / Swagger 2.0 document (file or URL, JSON or YAML) into tools')
    .argument('<spec>', 'path or http(s) URL of the document')
    .option('--credential <name>', 'credential the tools use (created from the security scheme if missing)')
    .option('--tag <tag>', 'only operations with this tag (repeatable, or comma-separated)', collect)
    .option(
      '--operation <id>',
      'only this operationId or tool name (repeatable, or comma-separated)',
      collect,
    )
    .option('--permission-prefix <prefix>', 'first permission segment (default: from the API title)')
    .option('--base-url <url>', "replace the spec's server URL (origin and base path)")
    .option('-c, --config <file>', 'config file to write the tools into')
    .option('--print', 'print the entries as JSON instead of writing the config')
    .option('--force', 'replace hand-written tools of the same name')
    .action(
      action(async (spec: string, options: ImportCommandOptions) => {
        const outcome = await runImportOpenApi(spec, options);
        process.stderr.write(outcome.stderr);
        process.stdout.write(outcome.stdout);
      }),
    );
}
