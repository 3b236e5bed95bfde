/**
 * Writes imported tool entries into a raw tools.config.json object, keeping everything else as it
 * was: previously imported tools (with `generated`) are updated, hand-written tools of the same name
 * are refused unless forced, and a missing credential is added from the spec's security scheme.
 */
import type { ImportResult } from './to-tools.js';

type Obj = Record<string, unknown>;

export interface MergeOptions {
  /** Replace hand-written tools of the same name. */
  readonly force?: boolean | undefined;
  /** The credential the tools use; added when the config does not have it yet. */
  readonly credential?: string | undefined;
}

export interface MergeReport {
  readonly config: Obj;
  readonly added: string[];
  readonly updated: string[];
  /** Hand-written tools that were left alone (use --force). */
  readonly refused: string[];
  /** Set when a credential entry was created. */
  readonly credentialAdded?: string;
  readonly warnings: string[];
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function mergeImport(raw: Obj, result: ImportResult, options: MergeOptions = {}): MergeReport {
  const config: Obj = structuredClone(raw);
  const tools: Obj = isObject(config.tools) ? config.tools : {};
  config.tools = tools;
  const added: string[] = [];
  const updated: string[] = [];
  const refused: string[] = [];
  const warnings: string[] = [];
  for (const [name, definition] of Object.entries(result.definitions)) {
    const existing = tools[name];
    if (existing === undefined) added.push(name);
    else if (isObject(existing) && existing.generated !== undefined) updated.push(name);
    else if (options.force) updated.push(name);
    else {
      refused.push(name);
      continue;
    }
    tools[name] = definition;
  }

  let credentialAdded: string | undefined;
  const credentialName = options.credential;
  if (credentialName !== undefined) {
    const credentials: Obj = isObject(config.credentials) ? config.credentials : {};
    config.credentials = credentials;
    const existing = credentials[credentialName];
    if (existing === undefined) {
      if (result.security?.inject) {
        const backends: Obj = isObject(config.backends) ? config.backends : {};
        config.backends = backends;
        let backend = Object.keys(backends)[0];
        if (backend === undefined) {
          backend = 'local';
          backends.local = { type: 'file' };
          warnings.push(
            'added backends.local (the encrypted file store); run `keyward init` if it does not exist yet',
          );
        }
        const origins = [...result.origins];
        if (result.security.tokenOrigin && !origins.includes(result.security.tokenOrigin)) {
          origins.push(result.security.tokenOrigin);
        }
        credentials[credentialName] = {
          backend,
          ref: credentialName,
          inject: result.security.inject,
          origins,
        };
        credentialAdded = credentialName;
        const fields =
          result.security.inject.type === 'basic'
            ? 'fields "username" and "password"'
            : result.security.inject.type === 'oauth2-client-credentials'
              ? 'fields "client_id" and "client_secret"'
              : result.security.inject.type === 'oauth2-refresh-token'
                ? 'fields "client_id", "client_secret" (optional) and "refresh_token"'
                : 'the key as its value';
        warnings.push(
          `added credentials.${credentialName} (${result.security.inject.type}, from security scheme "${result.security.scheme}"); store ${fields} under ref "${credentialName}" in backend "${backend}"`,
        );
      } else {
        warnings.push(
          `credentials.${credentialName} does not exist and the spec has no supported security scheme: add it by hand`,
        );
      }
    } else if (isObject(existing) && Array.isArray(existing.origins)) {
      const known = new Set(
        existing.origins
          .filter((o): o is string => typeof o === 'string')
          .map((o) => {
            try {
              return new URL(o).origin;
            } catch {
              return o;
            }
          }),
      );
      for (const origin of result.origins) {
        if (!known.has(origin)) {
          warnings.push(
            `credentials.${credentialName}.origins does not list ${origin}; add it or pass --base-url`,
          );
        }
      }
    }
  }
  const report: MergeReport = { config, added, updated, refused, warnings };
  return credentialAdded ? { ...report, credentialAdded } : report;
}
