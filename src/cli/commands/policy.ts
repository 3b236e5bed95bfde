/** `keyward policy explain --agent A --tool T [--args JSON]`: which rules decide a call, and how. */
import type { Command } from 'commander';
import { findConfigFile, loadConfigFile } from '../../config/load.js';
import { assertValidPolicy, compileCelCondition } from '../../policy/cel-condition.js';
import { PolicyEngine } from '../../policy/policy-engine.js';
import { principalFromConfig } from '../../server/gateway.js';
import { action } from '../errors.js';
import { escapeUntrusted } from '../../core/untrusted-text.js';

interface ExplainOptions {
  config?: string;
  agent?: string;
  tool: string;
  args?: string;
  json?: boolean;
}

export function registerPolicyCommand(program: Command): void {
  const policy = program.command('policy').description('inspect the policy');
  policy
    .command('explain')
    .description('show the decision (allow, deny, approve) and the deciding rule ids for one call')
    .option('-c, --config <file>', 'config file')
    .option('--agent <name>', 'the agent (default: identity.stdio.agent)')
    .requiredOption('--tool <name>', 'the tool')
    .option('--args <json>', 'the call arguments as a JSON object', '{}')
    .option('--json', 'print JSON')
    .action(
      action((options: ExplainOptions) => {
        const loaded = loadConfigFile(findConfigFile(options.config));
        const { config } = loaded;
        assertValidPolicy(config, loaded.file);
        const tool = config.tools[options.tool];
        if (tool === undefined) throw new Error(`unknown tool "${options.tool}"`);
        let args: unknown;
        try {
          args = JSON.parse(options.args ?? '{}');
        } catch {
          throw new Error('--args must be a JSON object');
        }
        if (args === null || typeof args !== 'object' || Array.isArray(args))
          throw new Error('--args must be a JSON object');
        const principal = principalFromConfig(config, options.agent);
        const engine = new PolicyEngine(config.policy.rules, compileCelCondition);
        const input = {
          principal,
          tool: options.tool,
          permission: tool.permission,
          args: args as Record<string, unknown>,
        };
        const decision = engine.decide(input);
        const visible = !config.policy.hideUnusableTools || engine.canEverUse(input);
        const meaning =
          decision.effect === 'allow'
            ? 'the call proceeds (rate limits permitting)'
            : decision.effect === 'approve'
              ? 'the call needs a live grant, or a human approval'
              : decision.reason === 'default'
                ? 'denied by default: no rule matches'
                : 'denied: a deny rule matches (deny wins)';
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ agent: principal.agent, tenant: principal.tenant, tool: options.tool, permission: tool.permission, effect: decision.effect, ruleIds: decision.ruleIds, reason: decision.reason, listed: visible })}\n`,
          );
          return;
        }
        process.stdout.write(
          escapeUntrusted(
            `agent ${principal.agent} (tenant ${principal.tenant}, roles ${principal.roles.join(',') || '-'}) → ` +
              `${options.tool} (${tool.permission})`,
          ) +
            '\n' +
            `decision: ${decision.effect}\n` +
            `rules: ${decision.ruleIds.join(', ') || '(none)'}\n` +
            `meaning: ${meaning}\n` +
            `in tools/list: ${visible ? 'yes' : 'no (hidden: never usable)'}\n`,
        );
      }),
    );
}
