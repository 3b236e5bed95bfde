// Compares two V8 heap snapshots by constructor (issue 18): `node bench/heap-diff.mjs A B [top]`.
// Groups nodes like the DevTools "Summary" view: objects and native objects by their constructor
// name, everything else by node type ("(string)", "(closure)", "(code)", ...), and prints count and
// shallow size in each snapshot and the difference, largest growth first. Only node:fs, no parser
// dependency (a snapshot of this server is tens of MB of JSON).
import { readFileSync } from 'node:fs';

function summarize(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = meta.node_types[typeAt];
  const { nodes, strings } = snap;
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    const key = type === 'object' || type === 'native' ? strings[nodes[i + nameAt]] : `(${type})`;
    const size = nodes[i + sizeAt];
    total += size;
    const g = groups.get(key);
    if (g) {
      g.count++;
      g.size += size;
    } else groups.set(key, { count: 1, size });
  }
  return { groups, total, count: nodes.length / width };
}

const [a, b, topArg] = process.argv.slice(2);
if (!a || !b) {
  console.error('usage: node bench/heap-diff.mjs A.heapsnapshot B.heapsnapshot [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const A = summarize(a);
const B = summarize(b);
const kib = (n) => (n / 1024).toFixed(1);
console.log(`A: ${A.count} nodes, ${kib(A.total)} KiB; B: ${B.count} nodes, ${kib(B.total)} KiB`);
const rows = [];
for (const key of new Set([...A.groups.keys(), ...B.groups.keys()])) {
  const x = A.groups.get(key) ?? { count: 0, size: 0 };
  const y = B.groups.get(key) ?? { count: 0, size: 0 };
  rows.push({ key, ca: x.count, cb: y.count, sa: x.size, sb: y.size });
}
const print = (title, sorted) => {
  console.log(`\n${title}`);
  console.log('| constructor | count A | count B | Δ count | KiB A | KiB B | Δ KiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of sorted.slice(0, top)) {
    console.log(
      `| ${r.key.replace(/\|/g, '\\|').slice(0, 60)} | ${r.ca} | ${r.cb} | ${r.cb - r.ca} | ${kib(r.sa)} | ${kib(r.sb)} | ${kib(r.sb - r.sa)} |`,
    );
  }
};
print(
  'largest growth in shallow size',
  [...rows].sort((p, q) => q.sb - q.sa - (p.sb - p.sa)),
);
print(
  'largest growth in count',
  [...rows].sort((p, q) => q.cb - q.ca - (p.cb - p.ca)),
);
