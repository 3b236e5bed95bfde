/**
 * The hash recorded in `generated.sha256`: SHA-256 of the canonical JSON of what the spec contributes
 * to a tool (method, path template, parameters, body, input schema, description, annotations and the
 * tag/access part of the permission). Import options (origin, permission prefix, credential) are left
 * out, so a re-import with other options does not look like a spec change.
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level; the input must be acyclic. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What of a tool the hash covers; `permissionSuffix` is the permission after the configured prefix. */
export interface HashedParts {
  readonly method: string;
  readonly pathTemplate: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  readonly input: unknown;
  readonly description: string;
  readonly annotations: unknown;
  readonly permissionSuffix: string;
}

export function hashParts(parts: HashedParts): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex');
}

/** The path template of a tool URL, braces kept as written (no origin). */
export function pathTemplateOf(url: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(url);
  return match?.[1] ?? url;
}
