/**
 * Micro-benchmark of the redactor, the issue-18 scan against the one before it side by side in one
 * process: `node --import tsx bench/micro/redaction.ts [pairs]`. The previous redactor is kept as
 * test/helpers/redaction-reference.ts (the property tests compare both). Batches of each run
 * alternately; each figure is the median over `pairs` pairs of CPU time per operation
 * (process.cpuUsage, so other load on the machine matters less than for wall time), and the ratio
 * is the median of the per-pair ratios. "step" is what the redact step does with a JSON body (text
 * pass, then one parse: src/server/steps/redact.ts). The issue-12 redactor (before the non-oracle
 * rule) is redaction-before.ts, kept for the figures of that issue.
 */
import { compileRedactor as compileReference } from '../../test/helpers/redaction-reference.js';
import { compileRedactor } from '../../src/upstream/redaction.js';
import { secretTarget, wrapperTarget } from '../../src/upstream/redaction-target.js';
import { reflectedInput } from '../../src/upstream/reflected-input.js';
import { redactBody } from '../../src/server/steps/redact.js';
import { median } from '../lib/stats.js';

const pairs = Number(process.argv[2] ?? 15);
const KEY = 'sk_live_Zq8Lk2Pw9Xv4Rt7Yb3Nm6Hc1Jd5Gf0Sa';
const BENCH_KEY = 'test-token-123'; // the S5 payload scenario's key (bench/lib/keyward.ts)
const item = JSON.stringify({
  id: 1,
  sha: 'deadbeefcafebabe0123456789abcdef',
  text: 'Lorem ipsum dolor sit amet',
});
const array = (n: number): string => '[' + Array.from({ length: n }, () => item).join(',') + ']';
// The bench upstream's padded answer (bench/servers/upstream.mjs, ?size=204800).
const padded = JSON.stringify({
  id: '1',
  name: 'widget',
  price: 9.99,
  tags: ['a', 'b'],
  inStock: true,
  pad: 'x'.repeat(204800 - 90),
});
const hexBody = JSON.stringify(
  Array.from({ length: 3000 }, (_, k) => ({ k, sha: (k * 2654435761).toString(16).repeat(8) })),
);
const targets = (key: string) => [secretTarget(key), wrapperTarget(`Bearer ${key}`)];
const cases = [
  { name: '1 KiB array', key: KEY, body: array(12) },
  { name: '200 KiB array', key: KEY, body: array(2600) },
  { name: '200 KiB S5 padded body', key: BENCH_KEY, body: padded },
  { name: `${(hexBody.length / 1024).toFixed(0)} KiB hex-heavy`, key: KEY, body: hexBody },
];
const args = { id: '1', q: 'widgets' };

function cpuPerOp(fn: () => unknown, minMs: number): number {
  const start = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < minMs) {
    fn();
    n++;
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

function compare(label: string, before: () => unknown, after: () => unknown, minMs = 150): void {
  for (let i = 0; i < 30; i++) {
    before();
    after();
  }
  const b: number[] = [];
  const a: number[] = [];
  const ratio: number[] = [];
  for (let p = 0; p < pairs; p++) {
    const first = p % 2 === 0;
    const x = first ? cpuPerOp(before, minMs) : 0;
    const y = cpuPerOp(after, minMs);
    const z = first ? x : cpuPerOp(before, minMs);
    b.push(z);
    a.push(y);
    ratio.push(y / z);
  }
  console.log(
    `| ${label} | ${median(b).toFixed(1)} | ${median(a).toFixed(1)} | ${median(ratio).toFixed(2)}× |`,
  );
}

console.log(`pairs: ${pairs}; CPU µs per operation (median), after ÷ before (median of pair ratios)`);
console.log('| case | before µs | after µs | after ÷ before |');
console.log('|---|---:|---:|---:|');
for (const c of cases) {
  const before = compileReference(targets(c.key));
  const after = compileRedactor(targets(c.key));
  if (before.redact(c.body) !== after.redact(c.body)) throw new Error(`${c.name}: results differ`);
  compare(
    `${c.name}: text pass`,
    () => before.redact(c.body, reflectedInput(args)),
    () => after.redact(c.body, reflectedInput(args)),
  );
  const result = { status: 200, contentType: 'application/json', headers: {}, body: c.body };
  // The step around either scan: the number walk and the JSON-syntax flag are the current ones.
  const beforeStep = {
    ...before,
    redactNumbers: after.redactNumbers,
    spansJsonSyntax: after.spansJsonSyntax,
  };
  compare(
    `${c.name}: redact step`,
    () => redactBody(result, beforeStep, reflectedInput(args)),
    () => redactBody(result, after, reflectedInput(args)),
  );
}
const compileMs = 100;
compare(
  'compile (one key + Bearer wrapper)',
  () => compileReference(targets(KEY)),
  () => compileRedactor(targets(KEY)),
  compileMs,
);
