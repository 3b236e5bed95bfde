/** Graceful shutdown: stop taking calls, drain in-flight ones, flush the audit, close everything. */
import { DEFAULTS } from '../config/defaults.js';
import type { Logger } from '../observability/logger.js';
import type { Gateway } from './gateway.js';

export async function shutdownGateway(
  gateway: Gateway,
  logger: Logger,
  closers: readonly (() => Promise<void>)[] = [],
  drainMs: number = DEFAULTS.shutdown.drainMs,
): Promise<void> {
  const drained = await gateway.drain(drainMs);
  if (!drained) logger.warn({ inFlight: gateway.inFlightCalls }, 'shutdown: drain timed out');
  // The last results are handed to their transports on the next turns of the event loop.
  await new Promise<void>((resolve) => setTimeout(resolve, 50));
  for (const close of closers) await close().catch(() => undefined);
  await gateway.close();
}
