/** stdio transport: one session for the process; the principal comes from config or --agent. */
import type { Principal } from '../core/types.js';
import type { Gateway } from '../server/gateway.js';
import { createSessionServer } from '../server/session-server.js';
import { BoundedStdioServerTransport } from './bounded-stdio-transport.js';

export interface RunningStdio {
  /** Resolves when the client closes stdin or the transport closes. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export async function startStdio(gateway: Gateway, principal: Principal): Promise<RunningStdio> {
  const server = createSessionServer(gateway, principal);
  const transport = new BoundedStdioServerTransport();
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const previousOnClose = server.onclose;
  server.onclose = () => {
    previousOnClose?.();
    markClosed();
  };
  process.stdin.once('end', () => markClosed());
  await server.connect(transport);
  return { closed, close: () => server.close() };
}
