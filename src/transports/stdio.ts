/** stdio transport: one session for the process; the principal comes from config or --agent. */
import type { Principal } from '../core/types.js';
import { MemoryInFlightLimiter } from '../policy/in-flight-limiter.js';
import type { Gateway } from '../server/gateway.js';
import { createSessionServer } from '../server/session-server.js';
import { BoundedStdioServerTransport, type StdioEnd } from './bounded-stdio-transport.js';

export interface RunningStdio {
  /**
   * Resolves, with the reason, when the client closes stdin, stdout can no longer be written
   * (the client closed its end: EPIPE), or the transport closes.
   */
  readonly closed: Promise<StdioEnd | 'transport closed'>;
  /** False once stdout failed: the last flush before exiting must not write to it. */
  readonly outputOpen: boolean;
  close(): Promise<void>;
}

export async function startStdio(
  gateway: Gateway,
  principal: Principal,
  options: { readonly maxInFlight: number },
): Promise<RunningStdio> {
  // Beyond the cap a call is answered `rate_limited` at once (server.stdio.maxInFlight).
  const server = createSessionServer(gateway, principal, {
    inFlightLimiter: new MemoryInFlightLimiter(options.maxInFlight),
  });
  const transport = new BoundedStdioServerTransport();
  let markClosed!: (reason: StdioEnd | 'transport closed') => void;
  const closed = new Promise<StdioEnd | 'transport closed'>((resolve) => (markClosed = resolve));
  const previousOnClose = server.onclose;
  server.onclose = () => {
    previousOnClose?.();
    markClosed('transport closed');
  };
  // The transport reports stdin's end after it served a last line that had no newline.
  void transport.ended.then(markClosed);
  await server.connect(transport);
  return {
    closed,
    get outputOpen() {
      return transport.outputOpen;
    },
    close: () => server.close(),
  };
}
