/**
 * `{name}`: the one placeholder grammar of keyward's templates, for tool requests (URL, path,
 * query, headers, body) and credential refs alike. The config checks (config/load.ts), the
 * request builder (upstream/request-template.ts), the OpenAPI importer and the ref templates all
 * use this pattern, so a placeholder `keyward check` accepts is the one the runtime fills.
 */

/** The characters of a placeholder name. */
export const PLACEHOLDER_NAME = '[A-Za-z0-9_$.-]+';

/** Matches `{name}` with the name as group 1 (global: use with matchAll, replace or split). */
export const PLACEHOLDER = new RegExp(`\\{(${PLACEHOLDER_NAME})\\}`, 'g');

/** Every placeholder name in a template, in order (repeats kept). */
export function placeholderNames(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}
