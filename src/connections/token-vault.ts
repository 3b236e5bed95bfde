/**
 * The token vault: each user's tokens for one user-connection credential, stored by keyward itself
 * in the credential's secret backend (file, Vault, AWS) at its ref template (`…/{user}/…`), one
 * JSON document per (provider, user[, tenant]). Never read by the resolver's shared cache: the
 * connection manager keeps the derived access token in this process only.
 */
import { KeywardError, isKeywardError } from '../core/errors.js';
import type { Principal, Secret } from '../core/types.js';
import { compileRefTemplate, type RefTemplate } from '../secrets/ref-template.js';
import type { SecretBackend } from '../secrets/secret-backend.js';

export interface TokenRecord {
  readonly provider: string;
  readonly user: string;
  readonly tenant: string;
  readonly agent: string;
  readonly accessToken: string;
  readonly refreshToken?: string | undefined;
  /** Epoch ms, when the provider said. */
  readonly expiresAt?: number | undefined;
  readonly scope?: string | undefined;
  readonly connectedAt: string;
  readonly refreshedAt?: string | undefined;
}

export interface StoredRecord {
  readonly record: TokenRecord;
  readonly version: string;
}

/** One stored connection as listed (never a token). */
export interface ConnectionSummary {
  readonly credential: string;
  readonly provider: string;
  readonly ref: string;
  readonly user: string | undefined;
  readonly tenant: string | undefined;
  readonly agent: string | undefined;
  readonly version: string;
  readonly updatedAt: string | undefined;
}

const SEGMENT = '([A-Za-z0-9_.@-]{1,128})';

export class TokenVault {
  readonly template: RefTemplate;
  private readonly pattern: RegExp;
  private readonly names: string[] = [];

  constructor(
    readonly credentialId: string,
    readonly provider: string,
    readonly backendName: string,
    readonly backend: SecretBackend,
    ref: string,
  ) {
    this.template = compileRefTemplate(ref);
    let source = '^';
    for (const part of ref.split(/(\{(?:tenant|agent|user)\})/)) {
      const m = /^\{(tenant|agent|user)\}$/.exec(part);
      if (m) {
        this.names.push(m[1]!);
        source += SEGMENT;
      } else source += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
    this.pattern = new RegExp(`${source}$`);
  }

  /** The ref of a principal's record; credential_not_found when the principal names no user. */
  refFor(principal: Pick<Principal, 'tenant' | 'agent' | 'user'>): string {
    if (principal.user === undefined) {
      throw new KeywardError(
        'credential_not_found',
        `credential "${this.credentialId}" acts for a user, and this identity names none`,
        { detail: 'the principal has no user (identity.stdio.user, a token user, or the JWT user claim)' },
      );
    }
    return this.template.expand(principal);
  }

  async read(ref: string, signal?: AbortSignal): Promise<StoredRecord | undefined> {
    let secret: Secret;
    try {
      secret = await this.backend.get({ ref }, signal === undefined ? {} : { signal });
    } catch (error) {
      if (
        isKeywardError(error) &&
        (error.code === 'credential_not_found' || error.code === 'credential_revoked')
      )
        return undefined;
      throw error;
    }
    const record = parseRecord(secret);
    if (record === undefined) {
      throw new KeywardError(
        'credential_invalid',
        `the stored connection of "${this.credentialId}" is unreadable`,
        {
          detail: `token vault ${this.backendName}: the record is not a keyward token record`,
        },
      );
    }
    return { record, version: secret.version };
  }

  async write(ref: string, record: TokenRecord): Promise<string> {
    if (this.backend.set === undefined)
      throw new KeywardError('internal_error', 'the token vault backend cannot store values', {
        detail: `backend ${this.backendName} (${this.backend.kind}) has no set()`,
      });
    const { version } = await this.backend.set(ref, JSON.stringify(record));
    return version;
  }

  async remove(ref: string): Promise<boolean> {
    if (this.backend.remove === undefined) return false;
    try {
      await this.backend.remove(ref);
      return true;
    } catch (error) {
      if (isKeywardError(error) && error.code === 'credential_not_found') return false;
      throw error;
    }
  }

  /** The stored connections of this credential (names parsed from refs; no value is read). */
  async list(): Promise<ConnectionSummary[]> {
    if (this.backend.list === undefined) return [];
    const out: ConnectionSummary[] = [];
    for (const entry of await this.backend.list()) {
      const m = this.pattern.exec(entry.name);
      if (m === null) continue;
      const values: Record<string, string> = {};
      this.names.forEach((n, i) => (values[n] = m[i + 1]!));
      out.push({
        credential: this.credentialId,
        provider: this.provider,
        ref: entry.name,
        user: values.user,
        tenant: values.tenant,
        agent: values.agent,
        version: entry.version,
        updatedAt: entry.updatedAt,
      });
    }
    return out;
  }
}

function parseRecord(secret: Secret): TokenRecord | undefined {
  const candidates: unknown[] = [];
  try {
    candidates.push(JSON.parse(secret.value));
  } catch {
    // Vault KV: the JSON string is under the `value` key
  }
  if (secret.fields?.value !== undefined) {
    try {
      candidates.push(JSON.parse(secret.fields.value));
    } catch {
      // not ours
    }
  }
  if (secret.fields !== undefined) candidates.push(secret.fields);
  for (const c of candidates) {
    if (c !== null && typeof c === 'object' && typeof (c as TokenRecord).accessToken === 'string')
      return c as TokenRecord;
  }
  return undefined;
}
