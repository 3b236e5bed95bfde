/**
 * The config's `toolSources` (`{ "openapi": "spec.yaml", "credential": …, "tags": …, … }`): each spec is
 * loaded and compiled once at startup into tool entries, so a spec update needs no re-import. The
 * composition root and `keyward check` merge the result into `config.tools`.
 */
import { ConfigError } from '../core/errors.js';
import type { KeywardConfig, ToolConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { openApiToTools, type ImportIssue } from './to-tools.js';

export interface ToolSourceOptions {
  /** Receives one warning per unsupported bit (with its operation). */
  readonly logger?: Logger;
  /** Directory relative spec paths resolve against (load.ts already made them absolute). */
  readonly baseDir?: string;
}

export interface ToolSourceWarning extends ImportIssue {
  /** `toolSources[i]` */
  readonly source: string;
}

/**
 * Compiles every tool source. Throws ConfigError (with `toolSources[i]` paths) when a spec cannot be
 * loaded, or a generated name collides with a hand-written tool or another source's tool.
 */
export async function loadToolSources(
  config: KeywardConfig,
  options: ToolSourceOptions = {},
): Promise<Record<string, ToolConfig>> {
  const out: Record<string, ToolConfig> = {};
  const issues: { path: string; message: string }[] = [];
  if (config.toolSources.length === 0) return out;
  // The OpenAPI parser (and its YAML and $ref resolvers) is loaded only when a source needs it.
  const { loadSpec, SpecLoadError } = await import('./load-spec.js');
  for (const [i, source] of config.toolSources.entries()) {
    const where = `toolSources[${i}]`;
    let spec;
    try {
      spec = await loadSpec(source.openapi, { baseDir: options.baseDir });
    } catch (error) {
      const message = error instanceof SpecLoadError ? error.message : `cannot load ${source.openapi}`;
      issues.push({ path: `${where}.openapi`, message });
      continue;
    }
    const result = openApiToTools(spec.document, {
      source: source.openapi,
      credential: source.credential,
      tags: source.tags,
      operations: source.operations,
      permissionPrefix: source.permissionPrefix,
      baseUrl: source.baseUrl,
      specUrl: /^https?:\/\//i.test(source.openapi) ? source.openapi : undefined,
    });
    for (const issue of result.issues) {
      options.logger?.warn(
        { source: where, operation: issue.operation, skipped: issue.skipped },
        issue.message,
      );
    }
    if (source.credential !== undefined && !config.credentials[source.credential]) {
      issues.push({ path: `${where}.credential`, message: `unknown credential "${source.credential}"` });
    }
    for (const [name, tool] of Object.entries(result.tools)) {
      if (config.tools[name] || out[name]) {
        issues.push({
          path: where,
          message: `generated tool "${name}" collides with an existing tool; narrow the source with "operations" or "tags"`,
        });
        continue;
      }
      const credential = tool.credential !== undefined ? config.credentials[tool.credential] : undefined;
      if (credential) {
        const origin = new URL(tool.request.url).origin;
        if (!credential.origins.map((o) => new URL(o).origin).includes(origin)) {
          issues.push({
            path: where,
            message: `tool "${name}" calls ${origin}, which is not in credentials.${tool.credential}.origins`,
          });
          continue;
        }
      }
      out[name] = tool;
    }
  }
  if (issues.length > 0) throw new ConfigError('invalid tool sources', issues);
  return out;
}
