// Which plain objects grew between two heap snapshots, and what holds them (issue 18):
// `node --max-old-space-size=6000 bench/heap-retainers.mjs A.heapsnapshot B.heapsnapshot`.
// Groups `Object` instances by their first property names (their shape), prints the shapes whose
// count grew most, then one retainer path (strong edges only) of an instance of the top shape,
// from the object up towards a GC root. A companion to bench/heap-diff.mjs; no dependency.
import { readFileSync } from 'node:fs';
function load(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const m = snap.snapshot.meta,
    nf = m.node_fields,
    ef = m.edge_fields,
    W = nf.length,
    EW = ef.length;
  const nodes = snap.nodes,
    edges = snap.edges,
    strings = snap.strings;
  const types = m.node_types[0],
    etypes = m.edge_types[0];
  const iT = nf.indexOf('type'),
    iN = nf.indexOf('name'),
    iE = nf.indexOf('edge_count');
  const first = new Uint32Array(nodes.length / W + 1);
  for (let n = 0, e = 0; n < nodes.length / W; n++) {
    first[n] = e;
    e += nodes[n * W + iE] * EW;
  }
  first[nodes.length / W] = edges.length;
  return { snap, nodes, edges, strings, types, etypes, W, EW, iT, iN, first, ef };
}
function shapes(h) {
  const out = new Map();
  const idx = new Map();
  const { nodes, edges, strings, types, etypes, W, EW, iT, iN, first } = h;
  for (let n = 0; n < nodes.length / W; n++) {
    if (types[nodes[n * W + iT]] !== 'object' || strings[nodes[n * W + iN]] !== 'Object') continue;
    const keys = [];
    for (let e = first[n]; e < first[n + 1]; e += EW) {
      if (etypes[edges[e]] === 'property') keys.push(strings[edges[e + 1]]);
    }
    const k = keys.slice(0, 12).join(',');
    out.set(k, (out.get(k) ?? 0) + 1);
    if (!idx.has(k)) idx.set(k, n);
  }
  return { out, idx };
}
const [fileA, fileB] = process.argv.slice(2);
if (!fileA || !fileB) {
  console.error('usage: node bench/heap-retainers.mjs A.heapsnapshot B.heapsnapshot');
  process.exit(2);
}
const A = load(fileA);
const B = load(fileB);
const sa = shapes(A).out;
const sbb = shapes(B);
const sb = sbb.out;
const rows = [...new Set([...sa.keys(), ...sb.keys()])]
  .map((k) => [k, sa.get(k) ?? 0, sb.get(k) ?? 0])
  .sort((x, y) => y[2] - y[1] - (x[2] - x[1]));
for (const r of rows.slice(0, 8)) console.log(r[2] - r[1], r[1], r[2], r[0].slice(0, 150));
// retainers of one instance of the top shape in B
const top = rows[0][0];
const target = sbb.idx.get(top);
const { nodes, edges, strings, types, etypes, W, EW, iT, iN, first } = B;
const toIdx = 2; // edge fields: type, name_or_index, to_node
const rev = new Map();
for (let n = 0; n < nodes.length / W; n++)
  for (let e = first[n]; e < first[n + 1]; e += EW) {
    const to = edges[e + toIdx] / W;
    if (!rev.has(to)) rev.set(to, []);
    rev.get(to).push([n, e]);
  }
let cur = target;
const seen = new Set();
for (let d = 0; d < 14 && cur !== undefined; d++) {
  const rs = (rev.get(cur) ?? []).filter(([n, e]) => etypes[edges[e]] !== 'weak' && !seen.has(n));
  const desc = (n) => `${types[nodes[n * W + iT]]}:${strings[nodes[n * W + iN]].slice(0, 60)}`;
  console.log('  '.repeat(d) + desc(cur) + ` (${(rev.get(cur) ?? []).length} retainers)`);
  if (!rs.length) break;
  const [n, e] = rs[0];
  seen.add(cur);
  const en =
    etypes[edges[e]] === 'element' || etypes[edges[e]] === 'hidden' ? edges[e + 1] : strings[edges[e + 1]];
  console.log('  '.repeat(d) + `  <- [${etypes[edges[e]]} ${en}]`);
  cur = n;
}
