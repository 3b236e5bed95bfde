/** `keyward schema`: prints the JSON Schema of tools.config.json, generated from the zod schema. */
import type { Command } from 'commander';
import { configJsonSchema } from '../../config/json-schema.js';

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of tools.config.json (for editor completion)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
