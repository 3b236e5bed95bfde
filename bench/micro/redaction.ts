/**
 * Micro-benchmark of the redaction change (issue 12 §1–§2), old and new side by side in one run:
 * `node --import tsx bench/micro/redaction.ts`. The old redactor is kept verbatim in
 * redaction-before.ts. "step" is what the redact step now does for a JSON body: the text pass
 * plus the parsed-value pass (the old pipeline parsed the body once too, in tool-result.ts).
 */
import { compileRedactor as compileBefore } from './redaction-before.js';
import { compileRedactor } from '../../src/upstream/redaction.js';
import { secretTarget, wrapperTarget } from '../../src/upstream/redaction-target.js';
import { reflectedInput } from '../../src/upstream/reflected-input.js';
import { redactBody } from '../../src/server/steps/redact.js';

const KEY = 'sk_live_Zq8Lk2Pw9Xv4Rt7Yb3Nm6Hc1Jd5Gf0Sa';
const item = JSON.stringify({
  id: 1,
  sha: 'deadbeefcafebabe0123456789abcdef',
  text: 'Lorem ipsum dolor sit amet',
});
const bodies = {
  '1 KiB': '[' + Array.from({ length: 12 }, () => item).join(',') + ']',
  '200 KiB': '[' + Array.from({ length: 2600 }, () => item).join(',') + ']',
};
const before = compileBefore([KEY, `Bearer ${KEY}`]);
const after = compileRedactor([secretTarget(KEY), wrapperTarget(`Bearer ${KEY}`)]);
const args = { q: 'widgets', owner: 'acme' };

function time(label: string, fn: () => unknown, minMs = 1500): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) {
    fn();
    n++;
  }
  const us = ((performance.now() - start) * 1000) / n;
  console.log(`${label.padEnd(40)} ${us.toFixed(1).padStart(9)} µs/op`);
  return us;
}

for (const [name, body] of Object.entries(bodies)) {
  const old = time(`${name} text, before`, () => before.redact(body));
  const text = time(`${name} text, after`, () => after.redact(body, reflectedInput(args)));
  const parse = time(`${name} JSON.parse (both)`, () => JSON.parse(body));
  const result = { status: 200, contentType: 'application/json', headers: {}, body };
  const step = time(`${name} redact step, after`, () => redactBody(result, after, reflectedInput(args)));
  const escaped = { ...result, body: body.replace(/Lorem/g, 'Lo\\u0072em') };
  const slow = time(`${name} redact step, body with escapes`, () =>
    redactBody(escaped, after, reflectedInput(args)),
  );
  console.log(
    `${name}: text pass ${(text / old).toFixed(2)}× before; whole step ${(step / (old + parse)).toFixed(2)}× before, ${(slow / (old + parse)).toFixed(2)}× with escapes (old: text pass + parse)`,
  );
}
console.log(
  `compile: before ${time('compile before', () => compileBefore([KEY, `Bearer ${KEY}`]), 500).toFixed(0)} µs, after ${time('compile after', () => compileRedactor([secretTarget(KEY), wrapperTarget(`Bearer ${KEY}`)]), 500).toFixed(0)} µs`,
);
