/** Group commit: batching, backpressure, failures, write timeout, flush and close. */
import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../../src/audit/group-commit.js';

function deferred(): { promise: Promise<void>; resolve(): void; reject(e: Error): void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('GroupCommitter', () => {
  it('commits everything appended in the same tick as one batch', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommitter<number>({ commit: (b) => void batches.push([...b]) });
    await Promise.all([1, 2, 3, 4, 5].map((n) => gc.append(n)));
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('forms the next batch while the previous one is committing', async () => {
    const batches: number[][] = [];
    const gates: ReturnType<typeof deferred>[] = [];
    const gc = new GroupCommitter<number>({
      commit: (b) => {
        batches.push([...b]);
        const d = deferred();
        gates.push(d);
        return d.promise;
      },
    });
    const first = gc.append(1);
    await tick();
    expect(batches).toEqual([[1]]);
    const rest = [gc.append(2), gc.append(3)];
    await tick();
    await tick();
    expect(batches).toHaveLength(1);
    expect(gc.pending).toBe(3);
    gates[0]?.resolve();
    await first;
    await tick();
    expect(batches).toEqual([[1], [2, 3]]);
    gates[1]?.resolve();
    await Promise.all(rest);
    expect(gc.pending).toBe(0);
  });

  it('splits batches at maxBatch', async () => {
    const sizes: number[] = [];
    const gc = new GroupCommitter<number>({ commit: (b) => void sizes.push(b.length), maxBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => gc.append(i)));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('rejects at once when more than maxPending events wait (fail closed)', async () => {
    const gate = deferred();
    const gc = new GroupCommitter<number>({ commit: () => gate.promise, maxPending: 3 });
    const accepted = [gc.append(1), gc.append(2), gc.append(3)];
    await expect(gc.append(4)).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringMatching(/queue is full/),
    });
    gate.resolve();
    await Promise.all(accepted);
    await expect(gc.append(5)).resolves.toBeUndefined();
  });

  it('rejects every event of a failed batch and keeps going with the next one', async () => {
    let fail = true;
    const committed: number[] = [];
    const failures: string[] = [];
    const gc = new GroupCommitter<number>({
      commit: (b) => {
        if (fail) throw new Error('disk I/O error');
        committed.push(...b);
      },
      onFailure: (e, kind) => failures.push(`${kind}:${(e as Error).message}`),
    });
    const results = await Promise.allSettled([gc.append(1), gc.append(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const reason = (results[0] as PromiseRejectedResult).reason as {
      code: string;
      message: string;
      detail: string;
    };
    expect(reason.code).toBe('audit_unavailable');
    expect(reason.message).not.toMatch(/disk/);
    expect(reason.detail).toMatch(/disk I\/O error/);
    expect(failures).toEqual(['failed:disk I/O error']);
    fail = false;
    await gc.append(3);
    expect(committed).toEqual([3]);
  });

  it('times out a hung batch, fails closed until it settles, then recovers', async () => {
    const gates: ReturnType<typeof deferred>[] = [];
    const kinds: string[] = [];
    const gc = new GroupCommitter<number>({
      commit: () => {
        const d = deferred();
        gates.push(d);
        return d.promise;
      },
      writeTimeoutMs: 50,
      onFailure: (_e, kind) => kinds.push(kind),
    });
    const hung = gc.append(1);
    await tick();
    const queued = gc.append(2);
    await expect(hung).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringMatching(/timed out/),
    });
    await expect(queued).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(kinds).toEqual(['timeout']);
    // The hung commit has not settled: nothing new may start behind it.
    await expect(gc.append(3)).rejects.toMatchObject({ message: expect.stringMatching(/not answering/) });
    expect(gates).toHaveLength(1);
    await gc.flush();
    gates[0]?.resolve();
    await tick();
    const later = gc.append(4);
    await tick();
    expect(gates).toHaveLength(2);
    gates[1]?.resolve();
    await expect(later).resolves.toBeUndefined();
  });

  it('flush waits for queued events; close refuses new ones after draining', async () => {
    const gate = deferred();
    let committed = 0;
    const gc = new GroupCommitter<number>({
      commit: async (b) => {
        await gate.promise;
        committed += b.length;
      },
    });
    const appended = [gc.append(1), gc.append(2)];
    let flushed = false;
    const flushing = gc.flush().then(() => (flushed = true));
    await tick();
    expect(flushed).toBe(false);
    gate.resolve();
    await flushing;
    await Promise.all(appended);
    expect(committed).toBe(2);
    const closing = gc.close();
    await expect(gc.append(3)).rejects.toMatchObject({ code: 'audit_unavailable', message: /closed/ });
    await closing;
  });
});
