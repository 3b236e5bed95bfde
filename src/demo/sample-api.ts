/**
 * A small local API for `keyward demo`: projects behind a bearer key, plus a careless debug
 * endpoint that echoes the caller's key (to show redaction). Listens on 127.0.0.1 only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SampleApi {
  readonly origin: string;
  /** Keys accepted right now; the demo swaps it to show rotation. */
  acceptedKeys: Set<string>;
  /** Authorization headers received, for the transcript. */
  readonly seenKeys: string[];
  close(): Promise<void>;
}

const PROJECTS = [
  { id: 'p1', name: 'apollo', owner: 'ada' },
  { id: 'p2', name: 'gemini', owner: 'grace' },
];

export async function startSampleApi(initialKey: string): Promise<SampleApi> {
  const api: Omit<SampleApi, 'origin' | 'close'> = { acceptedKeys: new Set([initialKey]), seenKeys: [] };
  const server: Server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    api.seenKeys.push(key);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (!api.acceptedKeys.has(key)) return send(401, { error: 'invalid api key' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/projects') return send(200, { projects: PROJECTS });
    const match = /^\/projects\/([^/]+)$/.exec(url.pathname);
    if (match && req.method === 'GET') {
      const project = PROJECTS.find((p) => p.id === decodeURIComponent(match[1] ?? ''));
      return project ? send(200, project) : send(404, { error: 'no such project' });
    }
    const archive = /^\/projects\/([^/]+)\/archive$/.exec(url.pathname);
    if (archive && req.method === 'POST')
      return send(200, { archived: decodeURIComponent(archive[1] ?? '') });
    if (url.pathname === '/debug/whoami')
      return send(200, {
        note: 'careless endpoint',
        yourKey: key,
        base64: Buffer.from(key).toString('base64'),
      });
    return send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(api, {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
