/**
 * Builds the console for one process from what it shares with the gateway: the grant store, the
 * audit sink and the operators of the config. Used by `serve --http` (mounted beside /mcp) and by
 * `keyward console` (its own loopback server, for stdio setups).
 */
import type { Router } from 'express';
import type { AuditSink } from '../audit/audit-sink.js';
import type { KeywardConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import { ApprovalDesk } from '../policy/approval-desk.js';
import type { GrantStore } from '../policy/grant-store.js';
import { createConsoleRouter, type ConsoleConnections } from './console-router.js';
import { OperatorSessions } from './operator-sessions.js';

/** Where the console is mounted on its server. */
export const CONSOLE_PATH = '/console';

export interface ConsoleSetup {
  readonly config: KeywardConfig;
  readonly grants: GrantStore;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The console's base URL as operators reach it (decides the cookie's Secure flag). */
  readonly consoleUrl: string;
  readonly isAllowedOrigin: (origin: string) => boolean;
  /** User connections to list and revoke (serve --http). */
  readonly connections?: ConsoleConnections;
}

/** The console's router, or undefined when no operator is configured (nobody could sign in). */
export function createConsole(setup: ConsoleSetup): Router | undefined {
  const { config } = setup;
  if (config.console.operators.length === 0) return undefined;
  return createConsoleRouter({
    grants: setup.grants,
    desk: new ApprovalDesk(setup.grants, (event) => setup.audit.append(event), setup.clock),
    audit: setup.audit,
    sessions: new OperatorSessions(config.console.operators, config.console.sessionTtlSeconds, setup.clock),
    clock: setup.clock,
    logger: setup.logger,
    basePath: CONSOLE_PATH,
    secureCookies: setup.consoleUrl.startsWith('https:'),
    isAllowedOrigin: setup.isAllowedOrigin,
    ...(setup.connections === undefined ? {} : { connections: setup.connections }),
  });
}

/** The default console URL: the origin of `server.http.publicUrl`, else the bound address. */
export function defaultConsoleUrl(config: KeywardConfig, boundBaseUrl: string): string {
  if (config.console.publicUrl !== undefined) return config.console.publicUrl.replace(/\/+$/, '');
  const publicUrl = config.server.http?.publicUrl;
  return `${publicUrl === undefined ? boundBaseUrl : new URL(publicUrl).origin}${CONSOLE_PATH}`;
}
