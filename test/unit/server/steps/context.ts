/** A CallContext for step tests: tools compiled from a small config, the principal `a`/`t`. */
import { parseConfig } from '../../../../src/config/load.js';
import type { Principal } from '../../../../src/core/types.js';
import { initialCallState, type CallContext } from '../../../../src/server/call-context.js';
import { compileTools } from '../../../../src/server/compile-tools.js';
import type { CompiledTool } from '../../../../src/server/compiled-tool.js';

export const ORIGIN = 'https://api.example.test';
export const principal: Principal = {
  agent: 'a',
  tenant: 't',
  roles: ['r'],
  attributes: {},
  authMethod: 'stdio',
};

const tools = compileTools(
  parseConfig({
    agents: { a: { roles: ['r'], tenant: 't' } },
    identity: { stdio: { agent: 'a' } },
    backends: {
      local: { type: 'file', path: '/nonexistent/secrets.enc', keyPath: '/nonexistent/master.key' },
    },
    credentials: { api: { backend: 'local', ref: 'api', inject: { type: 'bearer' }, origins: [ORIGIN] } },
    tools: {
      get_item: {
        permission: 'items:read',
        credential: 'api',
        request: { method: 'GET', url: `${ORIGIN}/items/{id}` },
        input: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        fallback: { result: { cached: true } },
      },
      backup: { permission: 'items:read', request: { method: 'GET', url: `${ORIGIN}/backup` } },
      via_tool: {
        permission: 'items:read',
        request: { method: 'GET', url: `${ORIGIN}/primary` },
        fallback: { tool: 'backup' },
      },
    },
    policy: { rules: [{ id: 'all', effect: 'allow', permissions: ['*'] }] },
  }).config,
);

export function tool(name: string): CompiledTool {
  const found = tools.get(name);
  if (found === undefined) throw new Error(`no tool ${name}`);
  return found;
}

export const allTools: ReadonlyMap<string, CompiledTool> = tools;

export function context(name = 'get_item', rawArgs: unknown = { id: '7' }): CallContext {
  return {
    requestId: 'req-1',
    startedAt: 0,
    principal,
    tool: tool(name),
    rawArgs,
    sessionId: 's-1',
    signal: undefined,
    elicitor: undefined,
    ...initialCallState(),
  };
}

export const okResult = { status: 200, contentType: 'application/json', headers: {}, body: '{"ok":true}' };
