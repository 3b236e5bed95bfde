/** mapAwsError: every Secrets Manager failure shape maps to its catalog code with a safe message (reference §4). */
import { describe, expect, it } from 'vitest';
import { AwsTimeoutError, mapAwsError } from '../../../src/secrets/aws/aws-errors.js';

function sdkError(name: string, message: string, status = 400, fault = 'client'): Error {
  return Object.assign(new Error(message), { name, $fault: fault, $metadata: { httpStatusCode: status } });
}

const ctx = { backend: 'aws' };

describe('mapAwsError', () => {
  it.each([
    [
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
      400,
      'credential_not_found',
    ],
    [
      'InvalidRequestException',
      "You can't perform this operation on the secret because it was marked for deletion.",
      400,
      'credential_revoked',
    ],
    ['InvalidRequestException', "A previous rotation isn't complete.", 400, 'credential_invalid'],
    [
      'AccessDeniedException',
      'User: arn:aws:iam::123456789012:user/k is not authorized to perform: secretsmanager:GetSecretValue on resource: prod/db',
      400,
      'credential_invalid',
    ],
    [
      'DecryptionFailure',
      "Secrets Manager can't decrypt the protected secret text",
      400,
      'credential_invalid',
    ],
    [
      'ExpiredTokenException',
      'The security token included in the request is expired',
      400,
      'credential_expired',
    ],
    [
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
      400,
      'credential_invalid',
    ],
    ['ThrottlingException', 'Rate exceeded', 400, 'secret_backend_unavailable'],
    ['InternalServiceError', 'An error occurred on the server side.', 500, 'secret_backend_unavailable'],
    ['SyntaxError', 'Deserialization error: to see the raw response...', 503, 'secret_backend_unavailable'],
  ])('%s → %s', (name, message, status, code) => {
    const e = mapAwsError(sdkError(name, message, status, status >= 500 ? 'server' : 'client'), ctx);
    expect(e.code).toBe(code);
    expect(e.message).not.toMatch(/arn:|123456789012|prod\/db|marked/);
    expect(e.detail).toContain(name);
  });

  it('an explicitly requested version that is gone is revoked, not not-found', () => {
    const e = mapAwsError(sdkError('ResourceNotFoundException', 'for VersionId: abc'), {
      ...ctx,
      pinnedVersion: true,
    });
    expect(e.code).toBe('credential_revoked');
  });

  it('network errors, SDK timeouts and our deadline are unavailable with a retry hint', () => {
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      // The same network codes as the Vault map (src/secrets/network-errors.ts); AWS once lacked these.
      Object.assign(new Error('socket hang up'), { code: 'ECONNABORTED' }),
      Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }),
      Object.assign(new Error('timeout'), { name: 'TimeoutError' }),
      new AwsTimeoutError(100),
    ]) {
      const e = mapAwsError(err, ctx);
      expect(e.code).toBe('secret_backend_unavailable');
      expect(e.retryAfterSeconds).toBeGreaterThan(0);
    }
  });

  it('missing AWS credentials are credential_invalid (operator must configure)', () => {
    const e = mapAwsError(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      ctx,
    );
    expect(e.code).toBe('credential_invalid');
  });
});
