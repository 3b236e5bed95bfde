/** A configured tool compiled once at startup: schema validator, request template, injector, limits. */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolConfig } from '../config/schema.js';
import type { Injector } from '../upstream/outbound-request.js';
import type { ArgumentValidator } from './argument-validator.js';
import type { OutboundRequest } from '../upstream/outbound-request.js';

export interface RequestLimits {
  readonly connectMs: number;
  readonly headersMs: number;
  readonly totalMs: number;
  readonly maxResponseBytes: number;
}

export interface CompiledTool {
  readonly name: string;
  readonly permission: string;
  readonly config: ToolConfig;
  /** The entry served in tools/list. */
  readonly definition: Tool;
  readonly validate: ArgumentValidator;
  readonly buildRequest: (args: Record<string, unknown>) => OutboundRequest;
  readonly origin: string;
  readonly credentialId: string | undefined;
  readonly injector: Injector | undefined;
  readonly limits: RequestLimits;
  readonly responseHeaders: readonly string[] | undefined;
}
