/**
 * S6: the credential path against the Vault emulator with injected latency (0 / 5 / 50 ms): cold
 * cache at c64 (single flight: one backend read per key), steady-state p99, TTL expiry under load,
 * and rotation (upstream starts rejecting the old key; keyward re-fetches once and retries).
 */
import { VaultEmulator } from '../../test/emulators/vault-emulator.js';
import { closedLoop } from '../lib/load.js';
import { TOKEN } from '../lib/keyward.js';
import { sleep } from '../lib/proc.js';
import { SPEC, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

const KEYS = 4;

export async function credentialsScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  const n = ctx.quick ? 300 : 2000;
  const vault = new VaultEmulator();
  const url = await vault.start();
  const reads = (): number[] =>
    Array.from({ length: KEYS }, (_, k) => vault.count(`/v1/secret/data/bench/key${k}`));
  try {
    for (let k = 0; k < KEYS; k++) vault.putKv(`bench/key${k}`, { token: TOKEN });
    for (const latency of ctx.quick ? [0, 50] : [0, 5, 50]) {
      vault.latencyMs = latency;
      vault.resetCounters();
      const env = { BENCH_VAULT_TOKEN: vault.rootToken };
      const ws = { upstream: ctx.upstream, vault: { url, tokenEnv: 'BENCH_VAULT_TOKEN', keys: KEYS } };
      await withTarget(await start(ctx, SPEC.keywardStdio, ws, env), async (t) => {
        const s = t.session!;
        const tools = Array.from({ length: KEYS }, (_, k) => `get_item_v${k}`);
        const call = (k: number) => s.callItem(tools[k % KEYS]!, String(k));
        // Cold: 64 calls at once over 4 keys.
        const cold = await closedLoop(call, 64, 64);
        const coldReads = reads();
        const steady = await closedLoop(call, n, 16);
        const steadyReads = reads();
        rows.push([
          `vault +${latency} ms`,
          'cold c64 → steady c16',
          coldReads.join('/'),
          fmt(cold.p50),
          fmt(cold.p99),
          fmt(steady.p50),
          fmt(steady.p99),
          steadyReads.join('/'),
          cold.errors + cold.wrong + steady.errors + steady.wrong,
        ]);
        data.push({ latency, cold, coldReads, steady, steadyReads });
        log(
          `  credentials vault+${latency}: cold reads ${coldReads.join('/')} steady p99 ${fmt(steady.p99)}`,
        );
      });
    }

    // Rotation at +50 ms: new version in Vault, upstream switches to the new key mid-run.
    vault.latencyMs = 50;
    vault.resetCounters();
    {
      const env = { BENCH_VAULT_TOKEN: vault.rootToken };
      const ws = { upstream: ctx.upstream, vault: { url, tokenEnv: 'BENCH_VAULT_TOKEN', keys: KEYS } };
      await withTarget(await start(ctx, SPEC.keywardStdio, ws, env), async (t) => {
        const s = t.session!;
        const call = (k: number) => s.callItem(`get_item_v${k % KEYS}`, String(k));
        await closedLoop(call, 200, 16);
        const before = reads();
        const rotated = 'rotated-token-456';
        for (let k = 0; k < KEYS; k++) vault.putKv(`bench/key${k}`, { token: rotated });
        await fetch(`${ctx.upstream}/__token/${rotated}`);
        const after = await closedLoop(call, ctx.quick ? 200 : 1000, 16);
        const delta = reads().map((r, i) => r - (before[i] ?? 0));
        await fetch(`${ctx.upstream}/__token/${TOKEN}`);
        for (let k = 0; k < KEYS; k++) vault.putKv(`bench/key${k}`, { token: TOKEN });
        rows.push([
          'vault +50 ms',
          'rotation under c16',
          delta.join('/'),
          '',
          '',
          fmt(after.p50),
          fmt(after.p99),
          '',
          after.errors + after.wrong,
        ]);
        data.push({ rotation: { readsAfterRotation: delta, after } });
        log(`  credentials rotation: extra reads ${delta.join('/')} errors ${after.errors}`);
      });
    }

    // TTL expiry under load (full mode): TTL 1 s, c16 for several seconds at +50 ms.
    if (!ctx.quick) {
      vault.resetCounters();
      const env = { BENCH_VAULT_TOKEN: vault.rootToken };
      const ws = {
        upstream: ctx.upstream,
        cacheTtlSeconds: 1,
        vault: { url, tokenEnv: 'BENCH_VAULT_TOKEN', keys: KEYS },
      };
      await withTarget(await start(ctx, SPEC.keywardStdio, ws, env), async (t) => {
        const s = t.session!;
        const call = (k: number) => s.callItem(`get_item_v${k % KEYS}`, String(k));
        const t0 = Date.now();
        const r = await closedLoop(call, 6000, 16);
        const secs = (Date.now() - t0) / 1000;
        const rd = reads();
        rows.push([
          `vault +50 ms, TTL 1 s`,
          `expiry, c16 for ${secs.toFixed(1)} s`,
          rd.join('/'),
          '',
          '',
          fmt(r.p50),
          fmt(r.p99),
          '',
          r.errors + r.wrong,
        ]);
        data.push({ expiry: { seconds: secs, reads: rd, load: r } });
        log(`  credentials expiry: reads ${rd.join('/')} over ${secs.toFixed(1)} s, p99 ${fmt(r.p99)}`);
      });
    }
  } finally {
    await vault.stop();
    await fetch(`${ctx.upstream}/__token/${TOKEN}`).catch(() => undefined);
    await sleep(10);
  }
  return {
    title: `S6 credential path (Vault emulator, ${KEYS} keys, keyward over stdio)`,
    headers: [
      'backend',
      'phase',
      'backend reads per key',
      'cold p50 ms',
      'cold p99 ms',
      'steady/after p50 ms',
      'steady/after p99 ms',
      'reads after steady phase',
      'errors',
    ],
    rows,
    notes: [
      'Cold: 64 concurrent calls over 4 credentials on an empty cache; single flight means exactly one backend read per key. Steady: cache hits only, so p99 should not depend on the backend latency.',
      'Rotation: the upstream starts accepting only the new key; the first call per key gets a 401, keyward drops the cached value, re-fetches once and retries (no error reaches the agent).',
    ],
    data,
  };
}
