// The benchmark's upstream API (node:http, 127.0.0.1, port from UPSTREAM_PORT). GET /items/{id}
// (?size=N pads the JSON body to about N bytes), GET /slow/items/{id} (+SLOW_MS delay). Requires
// `Authorization: Bearer <token>` where the accepted token can be switched with GET /__token/<t>
// (rotation scenario). GET /__stats counts ok / unauthorized / not found. POST /v1/traces takes
// OTLP/HTTP exports and drops them.
/* global setTimeout, Buffer */
import http from 'node:http';

const PORT = Number(process.env.UPSTREAM_PORT || 0);
let token = process.env.UPSTREAM_TOKEN || 'test-token-123';
const SLOW_MS = Number(process.env.SLOW_MS || 50);
const stats = { ok: 0, unauthorized: 0, notFound: 0, traceExports: 0 };
const pads = new Map();
const padFor = (n) => {
  let p = pads.get(n);
  if (p === undefined) {
    p = 'x'.repeat(Math.max(0, n - 90));
    pads.set(n, p);
  }
  return p;
};

function answer(res, id, size) {
  stats.ok++;
  const item = { id, name: 'widget', price: 9.99, tags: ['a', 'b'], inStock: true };
  if (size > 0) item.pad = padFor(size);
  const body = JSON.stringify(item);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = req.url || '/';
  if (url === '/__stats') {
    const b = JSON.stringify(stats);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
    return res.end(b);
  }
  if (url === '/v1/traces' && req.method === 'POST') {
    // An OTLP/HTTP collector that keeps nothing (KEYWARD_BENCH_OTEL targets).
    req.resume();
    req.on('end', () => {
      stats.traceExports++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
    return;
  }
  if (url.startsWith('/__token/')) {
    token = decodeURIComponent(url.slice('/__token/'.length));
    res.writeHead(204);
    return res.end();
  }
  const m = /^\/(slow\/)?items\/([^/?#]+)(?:\?size=(\d+))?/.exec(url);
  if (req.method !== 'GET' || !m) {
    stats.notFound++;
    res.writeHead(404, { 'content-type': 'application/json' });
    return res.end('{"error":"not found"}');
  }
  if (req.headers.authorization !== `Bearer ${token}`) {
    stats.unauthorized++;
    res.writeHead(401, { 'content-type': 'application/json' });
    return res.end('{"error":"unauthorized"}');
  }
  const id = decodeURIComponent(m[2]);
  const size = Number(m[3] || 0);
  if (m[1]) setTimeout(() => answer(res, id, size), SLOW_MS);
  else answer(res, id, size);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, '127.0.0.1', () => console.error(`LISTENING ${server.address().port}`));
setTimeout(() => process.exit(0), Number(process.env.MAX_LIFETIME_MS || 1_200_000)).unref();
process.on('SIGTERM', () => process.exit(0));
