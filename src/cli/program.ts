/**
 * The `keyward` command line: one module per command under commands/, registered here.
 * Commands print to stdout only when they are not serving MCP over stdio.
 */
import { Command } from 'commander';
import { registerServeCommand } from './commands/serve.js';
import { registerImportCommand } from './commands/import.js';
import { registerCheckCommand } from './commands/check.js';
import { registerGrantsCommand } from './commands/grants.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerSchemaCommand } from './commands/schema.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerInitCommand } from './commands/init.js';
import { registerSecretsCommand } from './commands/secrets.js';
import { registerTokensCommand } from './commands/tokens.js';
import { registerConsoleCommand } from './commands/console.js';
import { registerConnectionsCommand } from './commands/connections.js';

export function buildProgram(): Command {
  const program = new Command('keyward')
    .description('An MCP server that lets agents call APIs without ever seeing a key')
    .version('0.1.0')
    .showHelpAfterError();
  registerServeCommand(program);
  registerCheckCommand(program);
  registerGrantsCommand(program);
  registerPolicyCommand(program);
  registerSchemaCommand(program);
  registerAuditCommand(program);
  registerDemoCommand(program);
  registerInitCommand(program);
  registerSecretsCommand(program);
  registerImportCommand(program);
  registerTokensCommand(program);
  registerConsoleCommand(program);
  registerConnectionsCommand(program);
  return program;
}
