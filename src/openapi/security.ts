/**
 * Maps OpenAPI security schemes to credential `inject` configs: http bearer → bearer, apiKey in
 * header → header, apiKey in query → query, http basic → basic, oauth2 clientCredentials →
 * oauth2-client-credentials, oauth2 authorizationCode → oauth2-refresh-token (with a stored refresh
 * token). Anything else (cookies, openIdConnect, mutualTLS, digest) is reported as unsupported.
 */
import type { z } from 'zod';
import type { injectSchema } from '../config/schema.js';

export type InjectInput = z.input<typeof injectSchema>;

export interface SchemeMapping {
  /** The scheme's name in the document. */
  readonly scheme: string;
  readonly inject?: InjectInput;
  /** Why the scheme cannot be used, when `inject` is absent. */
  readonly unsupported?: string;
  /** The token endpoint's origin (OAuth2), which the credential's `origins` must list. */
  readonly tokenOrigin?: string;
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The document's security schemes (OpenAPI 3 `components.securitySchemes`, Swagger 2 `securityDefinitions`). */
export function securitySchemes(document: Obj): Record<string, Obj> {
  const components = isObject(document.components) ? document.components : {};
  const schemes = isObject(components.securitySchemes)
    ? components.securitySchemes
    : isObject(document.securityDefinitions)
      ? document.securityDefinitions
      : {};
  const out: Record<string, Obj> = {};
  for (const [name, scheme] of Object.entries(schemes)) if (isObject(scheme)) out[name] = scheme;
  return out;
}

function absoluteTokenUrl(raw: unknown, baseUrl: string | undefined): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0) return undefined;
  try {
    const url = baseUrl ? new URL(raw, baseUrl) : new URL(raw);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Maps one scheme. `scopes` are the scopes the operations require (from their security requirements);
 * `baseUrl` resolves a relative token URL.
 */
export function mapSecurityScheme(
  name: string,
  scheme: Obj,
  context: { scopes?: readonly string[] | undefined; baseUrl?: string | undefined } = {},
): SchemeMapping {
  const type = typeof scheme.type === 'string' ? scheme.type : '';
  const scopes = [...new Set(context.scopes ?? [])];
  if (type === 'http') {
    const httpScheme = typeof scheme.scheme === 'string' ? scheme.scheme.toLowerCase() : '';
    if (httpScheme === 'bearer') return { scheme: name, inject: { type: 'bearer' } };
    if (httpScheme === 'basic') return { scheme: name, inject: { type: 'basic' } };
    return { scheme: name, unsupported: `http scheme "${httpScheme || '?'}" is not supported` };
  }
  if (type === 'basic') return { scheme: name, inject: { type: 'basic' } }; // Swagger 2.0
  if (type === 'apiKey') {
    const param = typeof scheme.name === 'string' ? scheme.name : '';
    if (!param) return { scheme: name, unsupported: 'apiKey scheme without a name' };
    if (scheme.in === 'header') {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(param)) {
        return { scheme: name, unsupported: `apiKey header name "${param}" is not a valid header name` };
      }
      return { scheme: name, inject: { type: 'header', header: param, format: '{value}' } };
    }
    if (scheme.in === 'query') return { scheme: name, inject: { type: 'query', param } };
    return {
      scheme: name,
      unsupported: `apiKey in ${String(scheme.in)} is not supported (only header and query)`,
    };
  }
  if (type === 'oauth2') {
    // OpenAPI 3: flows.clientCredentials / flows.authorizationCode; Swagger 2: flow "application" / "accessCode".
    const flows = isObject(scheme.flows) ? scheme.flows : {};
    const cc = isObject(flows.clientCredentials)
      ? flows.clientCredentials
      : scheme.flow === 'application'
        ? scheme
        : undefined;
    if (cc) {
      const tokenUrl = absoluteTokenUrl(cc.tokenUrl, context.baseUrl);
      if (!tokenUrl)
        return { scheme: name, unsupported: 'oauth2 clientCredentials flow without a usable tokenUrl' };
      return {
        scheme: name,
        inject: { type: 'oauth2-client-credentials', tokenUrl, scopes },
        tokenOrigin: new URL(tokenUrl).origin,
      };
    }
    const code = isObject(flows.authorizationCode)
      ? flows.authorizationCode
      : scheme.flow === 'accessCode'
        ? scheme
        : undefined;
    if (code) {
      const tokenUrl = absoluteTokenUrl(code.tokenUrl, context.baseUrl);
      if (!tokenUrl)
        return { scheme: name, unsupported: 'oauth2 authorizationCode flow without a usable tokenUrl' };
      return {
        scheme: name,
        inject: { type: 'oauth2-refresh-token', tokenUrl, scopes },
        tokenOrigin: new URL(tokenUrl).origin,
      };
    }
    return {
      scheme: name,
      unsupported: 'oauth2 flows other than clientCredentials and authorizationCode are not supported',
    };
  }
  return { scheme: name, unsupported: `security scheme type "${type || '?'}" is not supported` };
}

/** One security requirement: scheme name → required scopes. */
export type SecurityRequirement = Record<string, string[]>;

export function securityRequirements(value: unknown): SecurityRequirement[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter(isObject).map((req) => {
    const out: SecurityRequirement = {};
    for (const [scheme, scopes] of Object.entries(req)) {
      out[scheme] = Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [];
    }
    return out;
  });
}
