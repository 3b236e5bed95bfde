/**
 * The `keyward` command line: one module per command under commands/, registered here.
 * Commands print to stdout only when they are not serving MCP over stdio.
 *
 * Command modules are loaded with `import()`: a run that names a command loads that command's
 * module only (`keyward serve` does not load the console's express and handlebars, the demo's MCP
 * client or the OpenAPI importer), which keeps the cold start of `keyward serve` short. A run
 * without a known command (`keyward`, `--help`, `--version`, `help <cmd>`, a typo) registers all
 * of them, so the help lists every command and commander's suggestions work as before.
 */
import { Command } from 'commander';

type Register = (program: Command) => void;

/** Every command: its name as typed and how to load its registration. */
export const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  serve: async () => (await import('./commands/serve.js')).registerServeCommand,
  check: async () => (await import('./commands/check.js')).registerCheckCommand,
  grants: async () => (await import('./commands/grants.js')).registerGrantsCommand,
  policy: async () => (await import('./commands/policy.js')).registerPolicyCommand,
  schema: async () => (await import('./commands/schema.js')).registerSchemaCommand,
  audit: async () => (await import('./commands/audit.js')).registerAuditCommand,
  demo: async () => (await import('./commands/demo.js')).registerDemoCommand,
  init: async () => (await import('./commands/init.js')).registerInitCommand,
  secrets: async () => (await import('./commands/secrets.js')).registerSecretsCommand,
  import: async () => (await import('./commands/import.js')).registerImportCommand,
  tokens: async () => (await import('./commands/tokens.js')).registerTokensCommand,
  console: async () => (await import('./commands/console.js')).registerConsoleCommand,
  connections: async () => (await import('./commands/connections.js')).registerConnectionsCommand,
};

/**
 * The commands a run needs: the one named by the first argument that is not an option (the
 * program itself has no options taking a value), or all of them when it names none.
 */
export function commandsFor(argv: readonly string[]): string[] {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
}

export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('keyward')
    .description('An MCP server that lets agents call APIs without ever seeing a key')
    .version('0.1.0')
    .showHelpAfterError();
  const registers = await Promise.all(commandsFor(argv).map((name) => COMMANDS[name]!()));
  for (const register of registers) register(program);
  return program;
}
