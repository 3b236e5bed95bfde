// The floor for an MCP front end on Node: no SDK, hand-written JSON-RPC dispatch and argument
// check, undici.request on a keep-alive Agent. MODE=stdio | http (stateless, JSON answers).
/* global setTimeout, Buffer */
import http from 'node:http';
import { Agent, request } from 'undici';

const BASE = process.env.UPSTREAM_URL;
const KEY = 'test-token-123';
const agent = new Agent({ keepAliveTimeout: 60_000, connections: 64 });
const schema = (props) => ({
  type: 'object',
  properties: props,
  required: ['id'],
  additionalProperties: false,
});
const TOOLS = [
  {
    name: 'get_item',
    description: 'Get an item by id',
    inputSchema: schema({ id: { type: 'string' }, size: { type: 'string' } }),
  },
  {
    name: 'get_item_slow',
    description: 'Get an item by id (slow)',
    inputSchema: schema({ id: { type: 'string' } }),
  },
];
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.env.MAX_LIFETIME_MS || 1_200_000)).unref();

const invalid = (id) => ({ jsonrpc: '2.0', id, error: { code: -32602, message: 'Invalid params' } });
async function handle(msg) {
  if (msg.id === undefined) return null;
  switch (msg.method) {
    case 'initialize':
      return {
        jsonrpc: '2.0',
        id: msg.id,
        result: {
          protocolVersion: msg.params?.protocolVersion || '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: 'handrolled', version: '0.0.1' },
        },
      };
    case 'ping':
      return { jsonrpc: '2.0', id: msg.id, result: {} };
    case 'tools/list':
      return { jsonrpc: '2.0', id: msg.id, result: { tools: TOOLS } };
    case 'tools/call': {
      const a = msg.params?.arguments;
      const name = msg.params?.name;
      if (!a || typeof a.id !== 'string') return invalid(msg.id);
      for (const k of Object.keys(a))
        if (k !== 'id' && !(k === 'size' && typeof a.size === 'string')) return invalid(msg.id);
      let path;
      if (name === 'get_item')
        path = `/items/${encodeURIComponent(a.id)}${a.size ? `?size=${encodeURIComponent(a.size)}` : ''}`;
      else if (name === 'get_item_slow') path = `/slow/items/${encodeURIComponent(a.id)}`;
      else return invalid(msg.id);
      const { statusCode, body } = await request(`${BASE}${path}`, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${KEY}` },
      });
      const text = await body.text();
      return {
        jsonrpc: '2.0',
        id: msg.id,
        result: { content: [{ type: 'text', text }], isError: statusCode !== 200 },
      };
    }
    default:
      return { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } };
  }
}
const internal = (id, e) => ({ jsonrpc: '2.0', id, error: { code: -32603, message: String(e) } });

if ((process.env.MODE || 'stdio') === 'stdio') {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      handle(msg).then(
        (r) => r && process.stdout.write(JSON.stringify(r) + '\n'),
        (e) => process.stdout.write(JSON.stringify(internal(msg.id, e)) + '\n'),
      );
    }
  });
  process.stdin.on('end', () => process.exit(0));
} else {
  const srv = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' });
      return res.end();
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let msg;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400);
        return res.end();
      }
      const r = await handle(msg).catch((e) => internal(msg.id, e));
      if (!r) {
        res.writeHead(202);
        return res.end();
      }
      const b = JSON.stringify(r);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    });
  });
  srv.keepAliveTimeout = 65_000;
  srv.listen(Number(process.env.HTTP_PORT), '127.0.0.1');
}
