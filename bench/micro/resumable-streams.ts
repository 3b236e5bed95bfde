/**
 * The cost of resumable streams on the call path, in process: two Streamable HTTP sessions of
 * keyward's transport on node:http, one with a memory event store (priming event, stored result,
 * event ids) and one without, each answering a tool call whose only message is its result;
 * alternating batches of sequential calls over keep-alive sockets, so both see the same machine
 * load. Reports CPU (this process: client and server) and wall time per call, per pair of batches
 * (median and quartiles of the differences).
 *
 *   node --import tsx bench/micro/resumable-streams.ts [batches=20] [calls=1000]
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { systemClock } from '../../src/core/clock.js';
import { MemoryEventStore } from '../../src/transports/event-store/memory-event-store.js';
import { NodeStreamableHttpTransport } from '../../src/transports/node-streamable-transport.js';

const batches = Number(process.argv[2] ?? 20);
const calls = Number(process.argv[3] ?? 1000);

interface Target {
  readonly name: string;
  call(id: number): Promise<string>;
  close(): Promise<void>;
}

async function target(name: string, resumable: boolean): Promise<Target> {
  const store = new MemoryEventStore({
    clock: systemClock,
    ttlMs: 300_000,
    maxSessionBytes: 4 * 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
  });
  const mcp = new McpServer({ name: 'micro', version: '0' });
  mcp.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  const transport = new NodeStreamableHttpTransport({
    sessionIdGenerator: () => randomUUID(),
    ...(resumable
      ? {
          events: (id: string) => store.openSession(id, { subjectHash: '', agent: 'a', tenant: 't' }),
          retryMs: 1_000,
        }
      : {}),
  });
  await mcp.connect(transport);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      void transport.handleRequest(req, res, text === '' ? undefined : (JSON.parse(text) as unknown));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let headers: Record<string, string> = {};
  const post = (body: unknown): Promise<string> =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp',
          method: 'POST',
          agent,
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json, text/event-stream',
            'Content-Length': Buffer.byteLength(payload),
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            const sid = res.headers['mcp-session-id'];
            if (typeof sid === 'string')
              headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
            resolve(text);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  await post({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'm', version: '0' } },
  });
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return {
    name,
    call: (id) =>
      post({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: `t${id}` } },
      }),
    async close() {
      await transport.close();
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function batch(t: Target, base: number): Promise<{ cpu: number; wall: number }> {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const text = await t.call(base + i);
    if (!text.includes(`t${base + i}`)) throw new Error(`${t.name}: wrong answer ${text}`);
  }
  const cpu = process.cpuUsage(cpu0);
  return { cpu: (cpu.user + cpu.system) / 1000 / calls, wall: (performance.now() - wall0) / calls };
}

function quartiles(xs: number[]): [number, number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))]!;
  return [at(0.25), at(0.5), at(0.75)];
}

const off = await target('without event store', false);
const on = await target('with memory event store', true);
const sample = await on.call(1);
await batch(off, 10_000);
await batch(on, 10_000);
const dCpu: number[] = [];
const dWall: number[] = [];
const cpuOff: number[] = [];
const cpuOn: number[] = [];
for (let b = 0; b < batches; b++) {
  const base = 100_000 + b * calls;
  const first = b % 2 === 0 ? off : on;
  const second = first === off ? on : off;
  const r1 = await batch(first, base);
  const r2 = await batch(second, base);
  const [rOff, rOn] = first === off ? [r1, r2] : [r2, r1];
  cpuOff.push(rOff.cpu);
  cpuOn.push(rOn.cpu);
  dCpu.push(rOn.cpu - rOff.cpu);
  dWall.push(rOn.wall - rOff.wall);
}
const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
const [c25, c50, c75] = quartiles(dCpu);
const [w25, w50, w75] = quartiles(dWall);
console.log(`one call's response with the event store:\n${sample.trim()}\n`);
console.log(`${batches} pairs of ${calls} sequential calls`);
console.log(
  `CPU per call without: median ${us(quartiles(cpuOff)[1])}, with: median ${us(quartiles(cpuOn)[1])}`,
);
console.log(`CPU per call, with − without: median ${us(c50)} (quartiles ${us(c25)} .. ${us(c75)})`);
console.log(`wall per call, with − without: median ${us(w50)} (quartiles ${us(w25)} .. ${us(w75)})`);
await off.close();
await on.close();
