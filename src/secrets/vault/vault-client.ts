/** Builds the node-vault client from config (TLS, namespace, no custom verbs) and bounds every call in time. */
import { readFileSync } from 'node:fs';
import nodeVault from 'node-vault';
import type { BackendConfig } from '../../config/schema.js';
import { resolvePath } from '../../config/load.js';
import { VaultTimeoutError } from './vault-errors.js';

export type VaultConfig = Extract<BackendConfig, { type: 'vault' }>;
export type VaultClient = nodeVault.client;

/** Creates a node-vault client; the token is set later by VaultAuth. */
export function createVaultClient(config: VaultConfig, baseDir: string): VaultClient {
  const requestOptions: Record<string, unknown> = { timeout: config.timeoutMs };
  if (config.tls) {
    if (config.tls.caFile) requestOptions['ca'] = readFileSync(resolvePath(config.tls.caFile, baseDir));
    if (config.tls.certFile) requestOptions['cert'] = readFileSync(resolvePath(config.tls.certFile, baseDir));
    if (config.tls.keyFile) requestOptions['key'] = readFileSync(resolvePath(config.tls.keyFile, baseDir));
    requestOptions['strictSSL'] = config.tls.rejectUnauthorized;
  }
  const client = nodeVault({
    apiVersion: 'v1',
    endpoint: config.address,
    // Node's http server (our emulators) and some proxies cannot carry LIST: use GET ?list=1.
    noCustomHTTPVerbs: true,
    requestOptions,
    ...(config.namespace === undefined ? {} : { namespace: config.namespace }),
  });
  // node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE from the environment: only config counts.
  client.token = '';
  (client as VaultClient & { namespace: string }).namespace = config.namespace ?? '';
  return client;
}

/**
 * Runs one Vault call with a hard deadline: node-vault has no timeout of its own, and axios's
 * `timeout` only bounds socket inactivity. Also honours the caller's abort signal.
 */
export function withDeadline<T>(call: () => Promise<T>, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) return Promise.reject(new VaultTimeoutError(0));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new VaultTimeoutError(0));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      reject(new VaultTimeoutError(timeoutMs));
    }, timeoutMs);
    timer.unref?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    call().then(
      (value) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error('vault call failed'));
      },
    );
  });
}

/** Encodes a secret ref as a Vault path; refuses anything that could step outside its mount. */
export function safeVaultPath(ref: string): string | undefined {
  if (ref === '' || ref.startsWith('/') || ref.endsWith('/')) return undefined;
  if (/[?#%\\]/.test(ref) || [...ref].some((c) => c.charCodeAt(0) < 0x20)) return undefined;
  const segments = ref.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return segments.map((s) => encodeURIComponent(s)).join('/');
}
