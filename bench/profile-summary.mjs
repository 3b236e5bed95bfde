// Summarizes the newest .cpuprofile in a directory: self time per function and per innermost non-node file.
import fs from 'node:fs';
const dir = process.argv[2];
const f = fs
  .readdirSync(dir)
  .filter((x) => x.endsWith('.cpuprofile'))
  .map((x) => `${dir}/${x}`)
  .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
const p = JSON.parse(fs.readFileSync(f));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const total = p.samples.length;
const counts = new Map();
for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byFile = new Map();
for (const [id, c] of counts) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anon)'} ${cf.url.replace(/.*node_modules\//, 'nm:').replace(/.*\/work\/main\//, '')}:${cf.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + c);
  // attribute to innermost app/lib file
  let cur = n;
  let file = null;
  while (cur) {
    const u = cur.callFrame.url;
    if (u && !u.startsWith('node:')) {
      file = u.replace(/.*node_modules\//, 'nm:').replace(/.*\/work\/main\//, '');
      break;
    }
    cur = byId.get(parent.get(cur.id));
  }
  file ??= n.callFrame.url || n.callFrame.functionName;
  byFile.set(file, (byFile.get(file) ?? 0) + c);
}
const top = (m, k) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([n, c]) => `${((100 * c) / total).toFixed(1).padStart(5)}% ${n}`)
    .join('\n');
console.log('--- self');
console.log(top(self, 35));
console.log('--- by innermost file');
console.log(top(byFile, 30));
