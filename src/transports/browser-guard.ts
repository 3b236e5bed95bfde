/**
 * The Host and Origin allowlists of every HTTP entry point (DNS rebinding, cross-site requests),
 * stated once: the express routes, the lean /mcp and /messages path, the approval console and
 * `keyward console` all ask this guard. The Host rule is the MCP SDK's (the hostname of the Host
 * header must be allowlisted, IPv6 in brackets); verdicts are memoised per Host value, so the hot
 * path parses a Host header once. An Origin, when a browser sends one, must be allowlisted exactly.
 */
import type { IncomingMessage } from 'node:http';

export type GuardRefusal = { readonly reason: 'host' | 'origin'; readonly message: string };

export interface BrowserGuard {
  /** Undefined when the request may proceed; else why not (answer 403). */
  check(req: Pick<IncomingMessage, 'headers'>): GuardRefusal | undefined;
  isAllowedOrigin(origin: string): boolean;
}

export function browserGuard(
  allowedHosts: readonly string[],
  allowedOrigins: Iterable<string>,
): BrowserGuard {
  const origins = new Set([...allowedOrigins].map((o) => o.replace(/\/+$/, '')));
  const verdicts = new Map<string, boolean>();
  const hostAllowed = (host: string): boolean => {
    let verdict = verdicts.get(host);
    if (verdict === undefined) {
      try {
        verdict = allowedHosts.includes(new URL(`http://${host}`).hostname);
      } catch {
        verdict = false;
      }
      // Bounded: a scanner sending random Host values cannot grow the map.
      if (verdicts.size < 256) verdicts.set(host, verdict);
    }
    return verdict;
  };
  return {
    check(req) {
      const host = req.headers.host;
      if (host === undefined) return { reason: 'host', message: 'Missing Host header' };
      if (!hostAllowed(host)) return { reason: 'host', message: 'Invalid Host header' };
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.has(origin))
        return { reason: 'origin', message: 'Forbidden: origin not allowed' };
      return undefined;
    },
    isAllowedOrigin: (origin) => origins.has(origin),
  };
}
