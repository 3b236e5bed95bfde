/**
 * The socket and DNS error codes that mean "the secret backend could not be reached" (retryable
 * `secret_backend_unavailable`), stated once for every backend's error map: the Vault and AWS
 * maps had drifted apart (AWS lacked ECONNABORTED and the abort codes).
 */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ABORT_ERR',
  'ERR_CANCELED',
]);

export function isNetworkErrorCode(code: string | undefined): boolean {
  return code !== undefined && NETWORK_ERROR_CODES.has(code);
}
