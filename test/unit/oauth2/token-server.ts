/** A local OAuth2 token endpoint on 127.0.0.1 for the injector tests: scripted answers, recorded requests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedTokenRequest {
  readonly headers: IncomingMessage['headers'];
  readonly form: URLSearchParams;
}

export type TokenHandler = (
  req: RecordedTokenRequest,
  res: ServerResponse,
  index: number,
) => void | Promise<void>;

export interface TokenServer {
  readonly url: string;
  readonly origin: string;
  readonly requests: RecordedTokenRequest[];
  handler: TokenHandler;
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startTokenServer(handler: TokenHandler): Promise<TokenServer> {
  const requests: RecordedTokenRequest[] = [];
  const state = { handler };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        headers: req.headers,
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      };
      requests.push(recorded);
      void Promise.resolve(state.handler(recorded, res, requests.length - 1)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/oauth/token`,
    origin,
    requests,
    get handler() {
      return state.handler;
    },
    set handler(h: TokenHandler) {
      state.handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
