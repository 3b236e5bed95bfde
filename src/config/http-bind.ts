/**
 * The rules of remote mode that depend on where it binds: stated once, used by `serve --http`
 * (with the host it really binds, after --host) and by `keyward check` (with server.http.host).
 */
import type { ConfigIssue } from './load.js';
import type { KeywardConfig } from './schema.js';

export function isLoopbackHost(host: string): boolean {
  return ['localhost', '127.0.0.1', '::1', '[::1]'].includes(host) || host.startsWith('127.');
}

/** Problems of serving this config over HTTP on `host`; none when callers must authenticate. */
export function httpServeIssues(config: KeywardConfig, host: string): ConfigIssue[] {
  if (config.identity.tokens.length > 0 || config.identity.jwt !== undefined) return [];
  const issues: ConfigIssue[] = [];
  if (!isLoopbackHost(host))
    issues.push({
      path: 'server.http.host',
      message: `non-loopback bind (${host}) needs authentication: configure identity.tokens or identity.jwt, or bind 127.0.0.1`,
    });
  if ((config.identity.stdio?.agent ?? Object.keys(config.agents)[0]) === undefined)
    issues.push({
      path: 'agents',
      message:
        'HTTP without authentication needs an agent: set identity.stdio.agent or add one under "agents"',
    });
  return issues;
}

/** `keyward check`: the remote-mode rules for the configured server.http, when there is one. */
export function configuredHttpIssues(config: KeywardConfig): ConfigIssue[] {
  const http = config.server.http;
  return http === undefined ? [] : httpServeIssues(config, http.host);
}
