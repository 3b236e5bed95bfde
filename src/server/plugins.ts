/**
 * The optional layers plugged into the gateway (capabilities: grants, approvals, rate limits,
 * meta-tools). Kept apart from gateway.ts so the core composition stays readable.
 */
import type { GatewayDeps } from './gateway.js';

export function gatewayPlugins(): Pick<GatewayDeps, 'authorizer' | 'metaTools'> {
  return {};
}
