/**
 * The config of the `vault` backend kind. Only zod and the shared rules: the implementation
 * (vault-backend.ts, node-vault) is loaded by the registry with `import()` only when configured.
 */
import { z } from 'zod';
import { secretSourceSchema } from '../../core/config-rules.js';
import { backendCommon } from '../backend-config.js';

/** `DEFAULTS.vault`. */
export const VAULT_BACKEND_DEFAULTS = {
  mount: 'secret',
  kvVersion: 2,
  appRoleMount: 'approle',
  tlsRejectUnauthorized: true,
  renewBeforeSeconds: 30,
} as const;

export const vaultBackendSchema = z
  .object({
    type: z
      .literal('vault')
      .describe('HashiCorp Vault (setup and least-privilege policies: [backends.md](backends.md))'),
    address: z.string().url().describe('the Vault address'),
    mount: z.string().default(VAULT_BACKEND_DEFAULTS.mount).describe('the KV mount'),
    kvVersion: z.literal(2).default(VAULT_BACKEND_DEFAULTS.kvVersion).describe('KV version (only 2)'),
    namespace: z.string().optional().describe('Vault Enterprise namespace'),
    auth: z
      .discriminatedUnion('method', [
        z
          .object({
            method: z.literal('token'),
            token: secretSourceSchema.describe('where the Vault token is read from'),
          })
          .strict(),
        z
          .object({
            method: z.literal('approle'),
            mount: z.string().default(VAULT_BACKEND_DEFAULTS.appRoleMount).describe('the AppRole auth mount'),
            roleId: secretSourceSchema.describe('where the role id is read from'),
            secretId: secretSourceSchema.describe('where the secret id is read from'),
          })
          .strict(),
      ])
      .describe('how keyward logs in: a token, or AppRole'),
    tls: z
      .object({
        caFile: z.string().optional().describe('CA bundle'),
        certFile: z.string().optional().describe('client certificate'),
        keyFile: z.string().optional().describe('client key'),
        rejectUnauthorized: z
          .boolean()
          .default(VAULT_BACKEND_DEFAULTS.tlsRejectUnauthorized)
          .describe('verify the server certificate'),
      })
      .strict()
      .optional()
      .describe('TLS to Vault'),
    dynamicMounts: z
      .array(z.string())
      .default([])
      .describe('dynamic-secret paths (not KV): read as `GET /v1/<ref>`, leases renewed or re-issued'),
    renewBeforeSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(VAULT_BACKEND_DEFAULTS.renewBeforeSeconds)
      .describe('renew (or re-issue) a Vault token or lease this long before it expires'),
    ...backendCommon,
  })
  .strict();
