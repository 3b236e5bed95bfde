/**
 * Spec drift: a tool imported from OpenAPI records `generated.sha256`, the hash of its generated
 * definition as the operator approved it. When the spec now generates something different for the
 * same tool (a changed description, parameter or body), `keyward check` warns before it goes live.
 */
import type { KeywardConfig, ToolConfig } from '../config/schema.js';
import { resolvePath } from '../config/load.js';
import { loadSpec } from './load-spec.js';
import { openApiToTools } from './to-tools.js';

/**
 * Compares the recorded hashes of `config.tools` with `generatedNow` (what the specs generate today,
 * keyed by tool name). Returns one human-readable warning per drifted or vanished tool.
 */
export function checkGeneratedDrift(
  config: KeywardConfig,
  generatedNow: Record<string, ToolConfig>,
): string[] {
  const warnings: string[] = [];
  for (const [name, tool] of Object.entries(config.tools)) {
    const recorded = tool.generated;
    if (!recorded) continue;
    const now = generatedNow[name];
    if (!now) {
      warnings.push(
        `tools.${name}: ${recorded.source} no longer has this operation (imported tool kept as approved)`,
      );
      continue;
    }
    if (now.generated?.sha256 !== recorded.sha256) {
      warnings.push(
        `tools.${name}: ${recorded.source} changed this operation since it was imported; review and re-import (keyward import openapi ${recorded.source} --operation ${name} --force)`,
      );
    }
  }
  return warnings;
}

/**
 * Re-generates every tool of `config.tools` that records an OpenAPI source, from that source as it is
 * now (relative sources resolve against `baseDir`, the config file's directory). A source that cannot
 * be loaded is reported in `errors` and its tools are left out.
 */
export async function regenerateImportedTools(
  config: KeywardConfig,
  baseDir: string,
): Promise<{ tools: Record<string, ToolConfig>; errors: string[] }> {
  const sources = new Set<string>();
  for (const tool of Object.values(config.tools)) if (tool.generated) sources.add(tool.generated.source);
  const tools: Record<string, ToolConfig> = {};
  const errors: string[] = [];
  for (const source of sources) {
    const isUrl = /^https?:\/\//i.test(source);
    try {
      const spec = await loadSpec(isUrl ? source : resolvePath(source, baseDir));
      const result = openApiToTools(spec.document, {
        source,
        specUrl: isUrl ? source : undefined,
        baseUrl: 'https://drift.invalid',
      });
      for (const [name, tool] of Object.entries(result.tools)) tools[name] ??= tool;
    } catch (error) {
      errors.push(`${source}: ${(error as Error).message}`);
    }
  }
  return { tools, errors };
}
