/** Hash chain: canonical JSON, record hashing, chain head handling and the verifier's problem lines. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GENESIS_HASH,
  WriterChain,
  canonicalJson,
  chainRecord,
  newWriterId,
  sha256Hex,
  verifyRows,
  type ChainedRecord,
  type StoredRow,
} from '../../../src/audit/hash-chain.js';
import type { AuditEvent } from '../../../src/core/types.js';

const ev = (n: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  type: 'call.started',
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  agent: 'alice',
  requestId: `r${n}`,
  ...extra,
});

function rows(records: readonly ChainedRecord[]): StoredRow[] {
  return records.map((r) => ({
    writer: r.writer,
    seq: r.seq,
    prevHash: r.prevHash,
    hash: r.hash,
    body: r.body,
  }));
}

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"x":2,"y":1}]},"b":1}',
    );
  });

  it('keeps a member named __proto__ (assignment would set the prototype and drop it)', () => {
    const text = '{"__proto__":{"b":1,"a":2},"z":[{"__proto__":"x"}]}';
    expect(canonicalJson(JSON.parse(text))).toBe('{"__proto__":{"a":2,"b":1},"z":[{"__proto__":"x"}]}');
  });

  it('is independent of key order and round-trips through JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        if (value && typeof value === 'object' && !Array.isArray(value)) {
          const reversed = Object.fromEntries(Object.entries(value).reverse());
          expect(canonicalJson(reversed)).toBe(text);
        }
      }),
    );
  });
});

describe('WriterChain', () => {
  it('numbers from 1, links each record to the previous hash and hashes the canonical body', () => {
    const chain = new WriterChain('w1');
    const batch = chain.build([ev(1), ev(2)]);
    expect(batch.map((r) => r.seq)).toEqual([1, 2]);
    expect(batch[0]?.prevHash).toBe(GENESIS_HASH);
    expect(batch[1]?.prevHash).toBe(batch[0]?.hash);
    const first = batch[0] as ChainedRecord;
    expect(first.hash).toBe(sha256Hex(first.body));
    expect(JSON.parse(first.body)).toEqual({ ...ev(1), seq: 1, writer: 'w1', prevHash: GENESIS_HASH });
    expect(first.body).not.toContain('"hash"');
  });

  it('does not move the head until a batch is committed', () => {
    const chain = new WriterChain('w1');
    const failed = chain.build([ev(1), ev(2)]);
    const retried = chain.build([ev(3)]);
    expect(retried[0]?.seq).toBe(1);
    expect(chain.lastSeq).toBe(0);
    chain.advance(retried);
    expect(chain.lastSeq).toBe(1);
    expect(chain.build([ev(4)])[0]?.prevHash).toBe(retried[0]?.hash);
    expect(() => chain.advance(failed)).toThrow(/out of order/);
  });

  it('lets chain fields win over same-named event fields', () => {
    const forged = { ...ev(1), seq: 99, writer: 'evil', hash: 'x' } as unknown as AuditEvent;
    const r = chainRecord(forged, 'w1', 1, GENESIS_HASH);
    expect(JSON.parse(r.body)).toMatchObject({ seq: 1, writer: 'w1' });
    expect(JSON.parse(r.body)).not.toHaveProperty('hash');
  });

  it('hashes the canonical JSON of the event and its chain fields, whatever events came before', () => {
    // chainRecord reuses the field order of a key list it has seen: every body must still equal
    // the canonical JSON of its own fields, including key lists that join to the same string.
    const expected = (e: Record<string, unknown>, seq: number) => {
      const fields: Record<string, unknown> = { ...e, writer: 'w1', seq, prevHash: GENESIS_HASH };
      delete fields.hash;
      return canonicalJson(fields);
    };
    const split = { a: 1, b: 2 } as unknown as AuditEvent;
    const joined = { 'a\u0000b': 3 } as unknown as AuditEvent;
    expect(chainRecord(split, 'w1', 1, GENESIS_HASH).body).toBe(expected({ a: 1, b: 2 }, 1));
    expect(chainRecord(joined, 'w1', 1, GENESIS_HASH).body).toBe(expected({ 'a\u0000b': 3 }, 1));
    const keyed = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 });
    fc.assert(
      fc.property(fc.array(keyed, { minLength: 1, maxLength: 8 }), (events) => {
        events.forEach((e, i) => {
          for (const again of [e, { ...e }]) {
            const r = chainRecord(again as unknown as AuditEvent, 'w1', i + 1, GENESIS_HASH);
            expect(r.body).toBe(expected(again, i + 1));
            expect(r.hash).toBe(sha256Hex(r.body));
          }
        });
      }),
    );
  });

  it('generates distinct writer ids with host and pid', () => {
    const a = newWriterId();
    expect(a).toContain(`-${process.pid}-`);
    expect(newWriterId()).not.toBe(a);
  });
});

describe('verifyRows', () => {
  const chainOf = (writer: string, n: number) =>
    new WriterChain(writer).build(Array.from({ length: n }, (_, i) => ev(i)));

  it('accepts intact chains of several writers in any storage order', () => {
    const all = [...rows(chainOf('a', 3)), ...rows(chainOf('b', 2))].reverse();
    expect(verifyRows(all)).toEqual({ ok: true, records: 5, writers: 2, problems: [] });
  });

  it('names an edited record', () => {
    const r = rows(chainOf('a', 3));
    r[1] = { ...(r[1] as StoredRow), body: (r[1] as StoredRow).body.replace('alice', 'mallory') };
    expect(verifyRows(r).problems).toEqual(['writer a seq 2: hash mismatch (record edited)']);
  });

  it('names a deleted record, a deleted range and an inserted duplicate', () => {
    const r = rows(chainOf('a', 8));
    const kept = [r[0], r[2], r[6], r[7], r[7]] as StoredRow[];
    expect(verifyRows(kept).problems).toEqual([
      'writer a seq 2: missing (record deleted)',
      'writer a seq 4-6: missing (3 records deleted)',
      'writer a seq 8: duplicate seq (record inserted)',
    ]);
  });

  it('names a record whose hash was recomputed after an edit (the next link breaks)', () => {
    const r = rows(chainOf('a', 3));
    const body = (r[1] as StoredRow).body.replace('alice', 'mallory');
    r[1] = { ...(r[1] as StoredRow), body, hash: sha256Hex(body) };
    expect(verifyRows(r).problems).toEqual([
      'writer a seq 3: prevHash does not match the hash of seq 2 (record inserted, replaced or edited)',
    ]);
  });

  it('names a chain column that disagrees with the hashed body and a mismatching indexed column', () => {
    const r = rows(chainOf('a', 2));
    r[0] = {
      ...(r[0] as StoredRow),
      columns: { agent: 'bob', type: 'call.started', time: Date.UTC(2026, 0, 1) },
    };
    r[1] = { ...(r[1] as StoredRow), columns: { agent: 'eve', tool: 'x' } };
    expect(verifyRows(r).problems).toEqual([
      'writer a seq 1: column agent differs from the hashed record (record edited)',
      'writer a seq 2: columns agent, tool differ from the hashed record (record edited)',
    ]);
  });

  it('names a body that is not JSON', () => {
    const r = rows(chainOf('a', 1));
    const body = '{not json';
    r[0] = { ...(r[0] as StoredRow), body, hash: sha256Hex(body) };
    expect(verifyRows(r).problems).toEqual([
      'writer a seq 1: stored record is not valid JSON (record edited)',
    ]);
  });
});
