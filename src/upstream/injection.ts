/**
 * Credential injectors (header, bearer, query, basic): put a secret into an outbound request, but
 * only when the request goes to one of the credential's configured origins.
 */
import type { InjectConfig } from '../config/schema.js';
import { ConfigError, KeywardError } from '../core/errors.js';
import type { Secret } from '../core/types.js';
import type { Injector, OutboundRequest } from './outbound-request.js';
import { secretTarget, wrapperTarget, type RedactionTarget } from './redaction-target.js';
import { createClientCredentialsInjector } from './oauth2/client-credentials.js';
import { createRefreshTokenInjector, type RefreshTokenDeps } from './oauth2/refresh-token.js';

export interface InjectorOptions {
  /** The only origins (scheme://host[:port]) this credential may be sent to. */
  origins: readonly string[];
  /** OAuth2 types only: credential name, clock, logger, and `rotate` for refresh-token rotation. */
  oauth2?: Omit<RefreshTokenDeps, 'origins'>;
}

/** A header value may not carry CR, LF, NUL or other control characters (header injection). */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function normalizeOrigins(origins: readonly string[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const origin of origins) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(`credential origin '${origin}' is not a URL`);
    }
    if (parsed.origin === 'null') throw new ConfigError(`credential origin '${origin}' has no origin`);
    out.add(parsed.origin);
  }
  if (out.size === 0) throw new ConfigError('a credential needs at least one origin');
  return out;
}

function headerValue(value: string, what: string): string {
  if (INVALID_HEADER_VALUE.test(value)) {
    // The value itself is never named: it is the secret.
    throw new KeywardError(
      'credential_invalid',
      `the credential cannot be sent as ${what}: it contains invalid characters`,
    );
  }
  return value;
}

function requireValue(secret: Secret): string {
  if (typeof secret.value !== 'string' || secret.value === '') {
    throw new KeywardError('credential_not_found', 'the credential value is empty');
  }
  return secret.value;
}

type Place = (request: OutboundRequest, secret: Secret) => readonly RedactionTarget[];

function placeFor(inject: InjectConfig): Place {
  switch (inject.type) {
    case 'header': {
      const name = inject.header.toLowerCase();
      const format = inject.format;
      return (request, secret) => {
        const value = requireValue(secret);
        const formatted = headerValue(format.split('{value}').join(value), `header '${name}'`);
        request.headers[name] = formatted;
        return formatted === value ? [secretTarget(value)] : [secretTarget(value), wrapperTarget(formatted)];
      };
    }
    case 'bearer':
      return (request, secret) => {
        const value = requireValue(secret);
        const formatted = headerValue(`Bearer ${value}`, 'a bearer token');
        request.headers.authorization = formatted;
        return [secretTarget(value), wrapperTarget(formatted)];
      };
    case 'query': {
      const param = inject.param;
      return (request, secret) => {
        const value = requireValue(secret);
        // set, not append: exactly one credential value in the URL (parameter pollution).
        request.url.searchParams.set(param, value);
        const encoded = new URLSearchParams([[param, value]]).toString().slice(param.length + 1);
        // The encoded form is a wrapper, removed whole: its own 8-character runs cover fewer than 8
        // characters of the key (`Ab3%2FCd` is six), a shorter foothold for a guessing agent. Runs
        // of the key in form encoding come from the key's partials (redaction.ts UNIT_ENCODERS).
        return encoded === value ? [secretTarget(value)] : [secretTarget(value), wrapperTarget(encoded)];
      };
    }
    case 'basic': {
      const { usernameField, username: fixedUsername, passwordField } = inject;
      return (request, secret) => {
        const fields = secret.fields;
        const username = fixedUsername ?? fields?.[usernameField];
        if (username === undefined) {
          throw new KeywardError(
            'credential_not_found',
            `the credential has no field '${usernameField}' (basic auth username)`,
          );
        }
        let password: string | undefined;
        if (fields === undefined) password = secret.value;
        else password = fields[passwordField];
        if (password === undefined || password === '') {
          throw new KeywardError(
            'credential_not_found',
            `the credential has no field '${passwordField}' (basic auth password)`,
          );
        }
        if (username.includes(':')) {
          throw new KeywardError('credential_invalid', 'the basic auth username must not contain ":"');
        }
        const encoded = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
        const formatted = headerValue(`Basic ${encoded}`, 'basic auth');
        request.headers.authorization = formatted;
        // The base64 of `user:pass` starts with the (possibly fixed, public) username: whole only.
        return [secretTarget(password), wrapperTarget(encoded), wrapperTarget(formatted)];
      };
    }
    case 'oauth2-client-credentials':
    case 'oauth2-refresh-token':
      // unreachable: createInjector hands these to src/upstream/oauth2/ before placeFor
      throw new ConfigError(`inject type ${inject.type} is created by createInjector`);
    default: {
      const unknownType: never = inject;
      throw new ConfigError(`unknown inject type ${String((unknownType as { type?: unknown }).type)}`);
    }
  }
}

export function createInjector(inject: InjectConfig, options: InjectorOptions): Injector {
  if (inject.type === 'oauth2-client-credentials' || inject.type === 'oauth2-refresh-token') {
    // Token-deriving injectors are async and stateful; they check origins themselves.
    const deps = { credentialName: 'oauth2', ...options.oauth2, origins: options.origins };
    return inject.type === 'oauth2-client-credentials'
      ? createClientCredentialsInjector(inject, deps)
      : createRefreshTokenInjector(inject, deps);
  }
  const origins = normalizeOrigins(options.origins);
  const place = placeFor(inject);
  return {
    inject(request, secret) {
      const origin = request.url.origin;
      if (!origins.has(origin)) {
        return Promise.reject(
          new KeywardError('credential_invalid', `the credential may not be sent to origin ${origin}`),
        );
      }
      try {
        return Promise.resolve(place(request, secret));
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}
