// The "tutorial" baseline: McpServer + registerTool, the handler calls the upstream with global
// fetch and a hard-coded key. MODE=stdio | http (Streamable HTTP, stateful sessions; JSON_RESPONSE=1
// for JSON answers, else SSE). Tools: get_item {id, size?}, get_item_slow {id}.
/* global setTimeout, fetch, Buffer */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const BASE = process.env.UPSTREAM_URL;
const KEY = 'test-token-123'; // hard-coded on purpose: this is the insecure baseline
const MODE = process.env.MODE || 'stdio';
const JSON_RESPONSE = process.env.JSON_RESPONSE === '1';
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.env.MAX_LIFETIME_MS || 1_200_000)).unref();

function buildServer() {
  const server = new McpServer({ name: 'tutorial-baseline', version: '0.0.1' });
  const get = async (path) => {
    const r = await fetch(`${BASE}${path}`, { headers: { Authorization: `Bearer ${KEY}` } });
    const text = await r.text();
    return { content: [{ type: 'text', text }], isError: !r.ok };
  };
  server.registerTool(
    'get_item',
    { description: 'Get an item by id', inputSchema: { id: z.string(), size: z.string().optional() } },
    ({ id, size }) =>
      get(`/items/${encodeURIComponent(id)}${size ? `?size=${encodeURIComponent(size)}` : ''}`),
  );
  server.registerTool(
    'get_item_slow',
    { description: 'Get an item by id (slow upstream)', inputSchema: { id: z.string() } },
    ({ id }) => get(`/slow/items/${encodeURIComponent(id)}`),
  );
  return server;
}

if (MODE === 'stdio') {
  await buildServer().connect(new StdioServerTransport());
} else {
  const transports = new Map();
  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        try {
          resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
        } catch (e) {
          reject(e);
        }
      });
      req.on('error', reject);
    });
  const httpServer = http.createServer(async (req, res) => {
    try {
      if (!req.url.startsWith('/mcp')) {
        res.writeHead(404);
        return res.end();
      }
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const sid = req.headers['mcp-session-id'];
      let transport = sid ? transports.get(sid) : undefined;
      if (!transport) {
        if (req.method === 'POST' && !sid && isInitializeRequest(body)) {
          transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            enableJsonResponse: JSON_RESPONSE,
            onsessioninitialized: (id) => transports.set(id, transport),
          });
          transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
          await buildServer().connect(transport);
        } else {
          res.writeHead(400, { 'content-type': 'application/json' });
          return res.end(
            '{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: no valid session"},"id":null}',
          );
        }
      }
      await transport.handleRequest(req, res, body);
    } catch (e) {
      if (!res.headersSent) {
        res.writeHead(500);
        res.end(String(e));
      }
    }
  });
  httpServer.keepAliveTimeout = 65_000;
  httpServer.listen(Number(process.env.HTTP_PORT), '127.0.0.1');
}
