/**
 * The config fields every secret backend kind shares (its schema fragment spreads them): the
 * deadline, retries and stale window ResilientBackend applies around any backend.
 */
import { z } from 'zod';

/** Defaults of the shared backend fields (`DEFAULTS.backend`). */
export const BACKEND_DEFAULTS = { timeoutMs: 2_000, retries: 2, staleSeconds: 60 } as const;

export const backendCommon = {
  timeoutMs: z
    .number()
    .int()
    .positive()
    .default(BACKEND_DEFAULTS.timeoutMs)
    .describe('deadline of one backend request'),
  retries: z
    .number()
    .int()
    .min(0)
    .max(5)
    .default(BACKEND_DEFAULTS.retries)
    .describe('retries with full jitter, on availability failures only'),
  staleSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(BACKEND_DEFAULTS.staleSeconds)
    .describe(
      "how long past its cache TTL a value may be served while the backend is unavailable; never past the secret's own expiry, never after revoked or not found",
    ),
};
