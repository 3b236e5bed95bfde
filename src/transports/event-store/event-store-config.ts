/**
 * The config of resumable streams and their EventStore (`server.http.streams`): memory on this
 * replica, or Redis when the cache is Redis with an encryption key (registry.ts picks).
 */
import { z } from 'zod';

/** Resumable streams: events kept 5 min, 4 MiB per session, 64 MiB in all (memory), retry 1 s. */
export const STREAMS_DEFAULTS = {
  resumable: true,
  eventTtlSeconds: 300,
  maxSessionBytes: 4 * 1024 * 1024,
  maxBytes: 64 * 1024 * 1024,
  retryMs: 1_000,
  pollAfterSeconds: 0,
} as const;

export const streamsSchema = z
  .object({
    resumable: z
      .boolean()
      .default(STREAMS_DEFAULTS.resumable)
      .describe('keep events so a client can resume with Last-Event-ID'),
    eventTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(3_600)
      .default(STREAMS_DEFAULTS.eventTtlSeconds)
      .describe('how long an event is kept for a client that reconnects'),
    maxSessionBytes: z
      .number()
      .int()
      .positive()
      .default(STREAMS_DEFAULTS.maxSessionBytes)
      .describe('bytes of events one session keeps (the oldest go first)'),
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(STREAMS_DEFAULTS.maxBytes)
      .describe('bytes of events all sessions keep together in memory (beyond, events are not resumable)'),
    retryMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(STREAMS_DEFAULTS.retryMs)
      .describe('the `retry:` field of priming events: how long a client waits before reconnecting'),
    pollAfterSeconds: z
      .number()
      .int()
      .min(0)
      .max(3_600)
      .default(STREAMS_DEFAULTS.pollAfterSeconds)
      .describe(
        "a call's stream still waiting for its result after this long is closed; the client comes back with Last-Event-ID after retryMs (SEP-1699 polling: no connection held per waiting call); 0: never",
      ),
  })
  .strict()
  .prefault({})
  .describe(
    'resumable Streamable HTTP streams ([deployment](deployment.md#resumable-streams)): events kept in memory, or in Redis when `cache` is Redis with an `encryptionKey` (then a resume may reach any replica)',
  );
