/** Maps AWS SDK (Secrets Manager) failures onto the error catalog (reference §4, AWS table). */
import { ConfigError, KeywardError } from '../../core/errors.js';
import { isNetworkErrorCode } from '../network-errors.js';

/** Thrown by our per-call deadline (the SDK's requestTimeout alone never fails a hung call). */
export class AwsTimeoutError extends Error {
  constructor(ms: number) {
    super(`aws call exceeded ${ms} ms`);
    this.name = 'AwsTimeoutError';
  }
}

interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const UNAVAILABLE_NAMES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'TimeoutError',
  'AbortError',
  'AwsTimeoutError',
  'SyntaxError',
  'RequestTimeout',
]);

export interface AwsErrorContext {
  /** Config name of the backend, safe to show. */
  readonly backend: string;
  /** The caller asked for an explicit VersionId: a missing version then means it was rotated away. */
  readonly pinnedVersion?: boolean;
}

/** The SDK error name (`ResourceNotFoundException`, ...), or undefined. */
export function awsErrorName(error: unknown): string | undefined {
  const name = (error as SdkErrorShape)?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Turns any failure of an AWS call into a KeywardError. Messages never include the secret name,
 * ARN, account or the service's message (which names principals and resources); `detail` keeps
 * the error name and status for the server log.
 */
export function mapAwsError(error: unknown, context: AwsErrorContext): KeywardError {
  if (error instanceof KeywardError) return error;
  const label = `AWS Secrets Manager backend "${context.backend}"`;
  if (error instanceof ConfigError) {
    return new KeywardError('credential_invalid', `${label} cannot read its own AWS credentials`, {
      detail: error.message,
    });
  }
  const e = (error ?? {}) as SdkErrorShape;
  const name = awsErrorName(error) ?? 'Error';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : '';
  const detail = `aws ${name}${status !== undefined ? ` status ${status}` : ''}${code ? ` ${code}` : ''}`;

  switch (name) {
    case 'ResourceNotFoundException':
      return context.pinnedVersion
        ? new KeywardError('credential_revoked', `${label}: that credential version no longer exists`, {
            detail,
          })
        : new KeywardError('credential_not_found', `${label}: no such credential`, { detail });
    case 'InvalidRequestException':
      if (/marked for deletion/i.test(message)) {
        return new KeywardError('credential_revoked', `${label}: the credential is scheduled for deletion`, {
          detail: `${detail} marked for deletion`,
        });
      }
      return new KeywardError('credential_invalid', `${label} refused the request`, { detail });
    case 'AccessDeniedException':
      return new KeywardError(
        'credential_invalid',
        `${label}: keyward's AWS identity may not read the credential`,
        {
          detail,
        },
      );
    case 'DecryptionFailure':
    case 'EncryptionFailure':
      return new KeywardError('credential_invalid', `${label}: KMS could not decrypt the credential`, {
        detail,
      });
    case 'ExpiredTokenException':
    case 'ExpiredToken':
      return new KeywardError('credential_expired', `${label}: keyward's AWS session credentials expired`, {
        detail,
      });
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'InvalidClientTokenId':
    case 'SignatureDoesNotMatch':
      return new KeywardError('credential_invalid', `${label}: AWS rejected keyward's access key`, {
        detail,
      });
    case 'CredentialsProviderError':
      return new KeywardError('credential_invalid', `${label}: no AWS credentials are configured`, {
        detail,
      });
    default:
      break;
  }
  if (name === 'ThrottlingException' || name === 'TooManyRequestsException' || status === 429) {
    return new KeywardError('secret_backend_unavailable', `${label} is throttling keyward`, {
      retryAfterSeconds: 1,
      detail,
    });
  }
  if (
    UNAVAILABLE_NAMES.has(name) ||
    e.$fault === 'server' ||
    (status !== undefined && status >= 500) ||
    isNetworkErrorCode(code)
  ) {
    const timeout = name === 'TimeoutError' || name === 'AbortError' || name === 'AwsTimeoutError';
    return new KeywardError(
      'secret_backend_unavailable',
      timeout ? `${label} did not answer in time` : `${label} is unavailable`,
      { retryAfterSeconds: 2, detail },
    );
  }
  if (/region is missing/i.test(message)) {
    return new KeywardError('credential_invalid', `${label}: no AWS region is configured`, { detail });
  }
  if (status !== undefined && status >= 400) {
    return new KeywardError('credential_invalid', `${label} refused the request`, { detail });
  }
  return new KeywardError('secret_backend_unavailable', `${label} failed`, { retryAfterSeconds: 2, detail });
}
