/** The config of the static API token verifier (`identity.tokens`): hashed tokens only. */
import { z } from 'zod';
import { configName } from '../core/config-rules.js';

export const staticTokensSchema = z
  .array(
    z
      .object({
        agent: configName.describe('the agent this token authenticates'),
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters')
          .describe(
            'hex SHA-256 of the token; only the hash is stored (`keyward tokens create --agent A` prints the token once and this hash); hashes must be unique',
          ),
        id: z
          .string()
          .optional()
          .describe(
            'names the sessions this token owns (default: the first 16 hex digits of the hash); ids must be unique',
          ),
        tenant: configName.optional().describe("overrides the agent's tenant"),
        roles: z.array(configName).optional().describe("overrides the agent's roles"),
        user: configName.optional().describe("the person this token's agent acts for (user connections)"),
      })
      .strict(),
  )
  .default([])
  .describe('static API tokens for HTTP');
