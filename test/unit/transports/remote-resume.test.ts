/**
 * A resume served from the shared (Redis) event store by a replica that does not hold the session,
 * over a real socket on 127.0.0.1, to a client that takes the first bytes and then reads nothing.
 * Before the security review of 2026-12-05 the response ended after holdMs with the unsent events
 * still queued, and the connection stayed open for as long as the client liked (the resume no
 * longer counted against the principal's cap, so an agent could pile such connections up); now a
 * socket that moved nothing for stallMs is closed. Random key prefix; never FLUSHes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authenticated } from '../../../src/identity/authenticated.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { RedisEventStore } from '../../../src/transports/event-store/redis-event-store.js';
import { RemoteResumes } from '../../../src/transports/event-store/remote-resume.js';

const SHARED = 'redis://127.0.0.1:6379';
const prefix = `kwtest:resume:${randomBytes(6).toString('hex')}:`;
const auth: Authenticated = {
  principal: { agent: 'first', tenant: 'acme', roles: [], attributes: {}, authMethod: 'token' },
  subject: 'token:first',
};

let store: RedisEventStore;
let server: Server;
const serverSockets: Socket[] = [];
const sid = randomUUID();

beforeAll(async () => {
  store = await RedisEventStore.create({
    url: SHARED,
    keyPrefix: prefix,
    commandTimeoutMs: 5_000,
    logger: silentLogger(),
    rootKey: randomBytes(32),
    ttlMs: 60_000,
    maxSessionBytes: 64 * 1024 * 1024,
    sessionIdleMs: 60_000,
  });
  // The replica that held the session stored 16 MB of one call's progress: more than the socket
  // buffers take.
  const log = store.openSession(sid, {
    subjectHash: createHash('sha256').update(auth.subject).digest('hex'),
    agent: 'first',
    tenant: 'acme',
  });
  const data = JSON.stringify({
    jsonrpc: '2.0',
    method: 'notifications/message',
    params: { data: 'd'.repeat(1 << 20) },
  });
  for (let seq = 1; seq <= 16; seq++) expect(await log.append(1, seq, data, false)).toBe(true);
  const resumes = new RemoteResumes({
    store,
    maxOpen: 8,
    maxOpenPerPrincipal: 8,
    pollMs: 50,
    holdMs: 500,
    keepAliveMs: 200,
    stallMs: 1_500,
  });
  server = createServer((req, res) => {
    void resumes.serve(res, sid, String(req.headers['last-event-id']), auth);
  });
  server.on('connection', (socket) => serverSockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await store.close();
  const redis = new Redis(SHARED);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('a resume from the shared event store to a client that stops reading', () => {
  it('closes the connection once its socket moved nothing for stallMs', async () => {
    const client = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(
      `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: ${sid}.1.0\r\n\r\n`,
    );
    await new Promise((resolve) => client.once('data', resolve));
    client.pause();
    const served = serverSockets.find((s) => s.remotePort === client.localPort);
    expect(served).toBeDefined();
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => served!.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 6_000)),
    ]);
    client.destroy();
    expect(closed).toBe(true);
  }, 30_000);
});
