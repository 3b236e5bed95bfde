/** Compiles every configured tool once: validator, request template, injector, limits, tools/list entry. */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { KeywardConfig } from '../config/schema.js';
import { DEFAULTS } from '../config/defaults.js';
import { createInjector } from '../upstream/injection.js';
import type { Injector } from '../upstream/outbound-request.js';
import { compileRequestTemplate } from '../upstream/request-template.js';
import { createValidatorFactory, strictInputSchema } from './argument-validator.js';
import type { CompiledTool } from './compiled-tool.js';

export interface InjectorHooks {
  /** Builds injectors for credentials; defaults to createInjector. */
  readonly createInjector?: (credentialId: string) => Injector;
}

export function compileTools(config: KeywardConfig, hooks: InjectorHooks = {}): Map<string, CompiledTool> {
  const validatorFor = createValidatorFactory();
  const injectors = new Map<string, Injector>();
  const injectorFor = (credentialId: string): Injector => {
    let injector = injectors.get(credentialId);
    if (injector === undefined) {
      const credential = config.credentials[credentialId];
      if (credential === undefined) throw new Error(`unknown credential ${credentialId}`);
      injector = hooks.createInjector
        ? hooks.createInjector(credentialId)
        : createInjector(credential.inject, { origins: credential.origins });
      injectors.set(credentialId, injector);
    }
    return injector;
  };

  const tools = new Map<string, CompiledTool>();
  for (const [name, tool] of Object.entries(config.tools)) {
    const inputSchema = strictInputSchema(tool.input as Record<string, unknown>);
    const inject = tool.credential === undefined ? undefined : config.credentials[tool.credential]?.inject;
    const template = compileRequestTemplate(name, tool, inject === undefined ? {} : { inject });
    const definition: Tool = {
      name,
      description: tool.description,
      inputSchema: inputSchema as Tool['inputSchema'],
      ...(tool.title === undefined ? {} : { title: tool.title }),
      ...(tool.annotations === undefined ? {} : { annotations: tool.annotations }),
    };
    tools.set(name, {
      name,
      permission: tool.permission,
      config: tool,
      definition,
      validate: validatorFor(inputSchema, `tools.${name}.input`),
      buildRequest: (args) => template.build(args),
      origin: template.origin,
      credentialId: tool.credential,
      injector: tool.credential === undefined ? undefined : injectorFor(tool.credential),
      limits: {
        connectMs: tool.timeouts?.connectMs ?? DEFAULTS.upstream.connectTimeoutMs,
        headersMs: tool.timeouts?.headersMs ?? DEFAULTS.upstream.headersTimeoutMs,
        totalMs: tool.timeouts?.totalMs ?? DEFAULTS.upstream.totalTimeoutMs,
        maxResponseBytes: tool.maxResponseBytes,
      },
      responseHeaders: tool.responseHeaders,
    });
  }
  return tools;
}
