/** Compiles every configured tool once: validator, request template, injector, limits, tools/list entry. */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { KeywardConfig } from '../config/schema.js';
import { DEFAULTS } from '../config/defaults.js';
import { createInjector, type InjectorOptions } from '../upstream/injection.js';
import type { Injector } from '../upstream/outbound-request.js';
import { compileRequestTemplate } from '../upstream/request-template.js';
import { createValidatorFactory, strictInputSchema } from './argument-validator.js';
import type { CompiledTool } from './compiled-tool.js';

export interface InjectorHooks {
  /** What token-deriving (OAuth2) injectors need from the composition root, per credential. */
  readonly oauth2?: (credentialId: string) => InjectorOptions['oauth2'];
}

export function compileTools(config: KeywardConfig, hooks: InjectorHooks = {}): Map<string, CompiledTool> {
  const validatorFor = createValidatorFactory();
  const injectors = new Map<string, Injector>();
  const injectorFor = (credentialId: string): Injector => {
    let injector = injectors.get(credentialId);
    if (injector === undefined) {
      const credential = config.credentials[credentialId];
      if (credential === undefined) throw new Error(`unknown credential ${credentialId}`);
      const oauth2 = hooks.oauth2?.(credentialId) ?? { credentialName: credentialId };
      injector = createInjector(credential.inject, { origins: credential.origins, oauth2 });
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
