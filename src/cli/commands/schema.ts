/**
 * `keyward schema`: prints the JSON Schema of tools.config.json, generated from the zod schema.
 * `--markdown FILE` instead rewrites the generated reference tables of FILE (docs/configuration.md,
 * `npm run docs:config`), leaving its hand-written prose alone.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { renderConfigDoc } from '../../config/config-doc.js';
import { configJsonSchema } from '../../config/json-schema.js';

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of tools.config.json (for editor completion)')
    .option(
      '--markdown <file>',
      'rewrite the generated configuration reference tables in this Markdown file (docs/configuration.md)',
    )
    .action((options: { markdown?: string }) => {
      if (options.markdown !== undefined) {
        const current = readFileSync(options.markdown, 'utf8');
        const next = renderConfigDoc(current);
        if (next !== current) writeFileSync(options.markdown, next);
        process.stdout.write(`${next === current ? 'unchanged' : 'updated'}: ${options.markdown}\n`);
        return;
      }
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
