/**
 * The config of the `aws-secrets-manager` backend kind. Only zod and the shared rules: the
 * implementation (aws-backend.ts, the AWS SDK) is loaded with `import()` only when configured.
 */
import { z } from 'zod';
import { secretSourceSchema } from '../../core/config-rules.js';
import { backendCommon } from '../backend-config.js';

export const awsBackendSchema = z
  .object({
    type: z.literal('aws-secrets-manager').describe('AWS Secrets Manager ([backends.md](backends.md))'),
    region: z.string().min(1).describe('the AWS region'),
    endpoint: z.string().url().optional().describe('a custom endpoint (e.g. a VPC endpoint or an emulator)'),
    credentials: z
      .union([
        z.object({ profile: z.string() }).strict(),
        z
          .object({
            accessKeyId: secretSourceSchema,
            secretAccessKey: secretSourceSchema,
            sessionToken: secretSourceSchema.optional(),
          })
          .strict(),
      ])
      .optional()
      .describe(
        'a named profile, or access keys read from files or environment variables; default: the AWS provider chain',
      ),
    ...backendCommon,
  })
  .strict();
