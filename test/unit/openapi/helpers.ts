/** Shared helpers for the OpenAPI import tests: load + compile, and accept the result as config. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../../src/config/load.js';
import type { KeywardConfig } from '../../../src/config/schema.js';
import { loadSpec } from '../../../src/openapi/load-spec.js';
import { openApiToTools, type ImportOptions, type ImportResult } from '../../../src/openapi/to-tools.js';
import { compileTools } from '../../../src/server/compile-tools.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(here, '../../fixtures/openapi');
export const EXAMPLES = path.resolve(here, '../../../node_modules/@readme/oas-examples');

export async function importFile(file: string, options: Partial<ImportOptions> = {}): Promise<ImportResult> {
  const spec = await loadSpec(file);
  return openApiToTools(spec.document, { source: file, ...options });
}

/**
 * Puts generated tools into a full config (with a file backend and, when asked, a credential whose
 * origins are the tools' origins), runs parseConfig on it and compiles every tool as `serve` would.
 */
export function acceptAsConfig(result: ImportResult, credential?: string): KeywardConfig {
  const raw: Record<string, unknown> = {
    backends: {
      local: { type: 'file', path: '/tmp/keyward-test-unused.enc', keyPath: '/tmp/keyward-test-unused.key' },
    },
    tools: result.definitions,
  };
  if (credential) {
    // Without a supported scheme in the spec, the operator would pick one; bearer stands in for it.
    const inject = result.security?.inject ?? { type: 'bearer' };
    const origins = [...result.origins];
    const tokenOrigin = result.security?.inject ? result.security.tokenOrigin : undefined;
    if (tokenOrigin && !origins.includes(tokenOrigin)) origins.push(tokenOrigin);
    if (origins.length === 0) origins.push('https://unused.example.com');
    raw.credentials = { [credential]: { backend: 'local', ref: credential, inject, origins } };
  }
  const { config } = parseConfig(raw);
  compileTools(config);
  return config;
}
