/**
 * The optional layers plugged into the gateway (capabilities: grants, approvals, rate limits,
 * meta-tools, alerts). Kept apart from gateway.ts so the core composition stays readable.
 */
import { assertValidPolicy, compileCelCondition } from '../policy/cel-condition.js';
import { CapabilityAuthorizer } from '../policy/capability-authorizer.js';
import { createGrantStore, createRateLimiter } from '../policy/grant-store-registry.js';
import { capabilityMetaTools } from '../policy/meta-tools.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import type { Gateway, GatewayDeps } from './gateway.js';

export function gatewayPlugins(): Pick<GatewayDeps, 'authorizer' | 'metaTools' | 'onCreated'> {
  let gateway: Gateway | undefined;
  const toolListChanged = (): void => gateway?.notifyToolListChanged();
  return {
    authorizer: async (config, parts) => {
      assertValidPolicy(config);
      const engine = new PolicyEngine(config.policy.rules, compileCelCondition);
      const storeDeps = {
        config,
        logger: parts.logger,
        clock: parts.clock,
        baseDir: parts.baseDir,
        // A grant or approval in shared state that fails its seal: someone wrote it around keyward.
        onForged: (what: { kind: string; id: string }) =>
          parts.notifier.notify({
            type: 'state.forged',
            message: `a ${what.kind} record in the shared grant store fails its seal and is ignored`,
            details: { kind: what.kind, id: what.id },
          }),
      };
      const grants = await createGrantStore(storeDeps);
      const rateLimiter = await createRateLimiter(storeDeps);
      const notifier = parts.notifier;
      // Approvals and revocations made by `keyward grants` in another process reach the sessions too.
      grants.watch?.(toolListChanged);
      const toolPermissions = new Map([...parts.tools.values()].map((t) => [t.name, t.permission]));
      return new CapabilityAuthorizer(
        {
          engine,
          grants,
          rateLimiter,
          audit: parts.audit,
          clock: parts.clock,
          logger: parts.logger,
          notifier,
          onGrantsChanged: toolListChanged,
          metaToolRateLimit: config.policy.metaToolRateLimit,
          links: parts.consoleLinks,
          operatorWaitSeconds: config.console.waitSeconds,
        },
        toolPermissions,
      );
    },
    metaTools: ({ config, authorizer }) =>
      config.policy.metaTools && authorizer instanceof CapabilityAuthorizer
        ? capabilityMetaTools(authorizer)
        : [],
    onCreated: (created) => {
      gateway = created;
    },
  };
}
