/** Child processes of the benchmark (tracked, killed by pid), /proc CPU accounting, free ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = path.resolve(benchDir, '..');
export const ELD_PROBE = path.join(benchDir, 'servers/eld-probe.mjs');
const CLK_TCK = 100;
export const CPUS = os.cpus().length;

/** Every child we started, so that an exit or a signal kills exactly those (by pid). */
const children = new Map<number, ChildProcess>();

export interface Tracked {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The last few KiB of stderr (for failure messages). */
  stderrTail(): string;
  /** Event-loop delay / RSS samples reported by eld-probe.mjs. */
  readonly eld: EldSample[];
  kill(): Promise<void>;
}

export interface EldSample {
  p50: number;
  p99: number;
  max: number;
  rss: number;
}

export function spawnTracked(
  cmd: string,
  args: readonly string[],
  options: {
    env?: Record<string, string>;
    stdin?: 'pipe' | 'ignore';
    stdout?: 'pipe' | 'ignore';
    cwd?: string;
  } = {},
): Tracked {
  const child = spawn(cmd, args, {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, MAX_LIFETIME_MS: '1200000', ...options.env },
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  children.set(pid, child);
  let tail = '';
  let partial = '';
  const eld: EldSample[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.startsWith('BENCH_ELD ')) eld.push(JSON.parse(line.slice(10)) as EldSample);
      else tail = (tail + line + '\n').slice(-4000);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => children.delete(pid));
  return {
    child,
    pid,
    eld,
    stderrTail: () => tail + partial,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function killAllChildren(): void {
  for (const child of children.values()) child.kill('SIGKILL');
}

/** A free 127.0.0.1 port (listen on 0, close, hand the number over). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitPort(port: number, ms = 20_000, proc?: Tracked): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc && proc.child.exitCode !== null)
      throw new Error(`server exited: ${proc.stderrTail().slice(-800)}`);
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) return;
    await sleep(30);
  }
  throw new Error(`port ${port} not ready: ${proc?.stderrTail().slice(-800) ?? ''}`);
}

/** User + system CPU of one process, in ms (10 ms resolution). NaN once it is gone. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Machine-wide busy CPU in ms, from /proc/stat. */
export function sysBusyMs(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return ((total - idle) * 1000) / CLK_TCK;
}

export const selfCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** A CPU snapshot of the processes in a measurement, to take deltas. */
export interface CpuSnap {
  server: number;
  upstream: number;
  driver: number;
  system: number;
  at: bigint;
}

export function snap(serverPids: readonly number[], upstreamPid: number): CpuSnap {
  return {
    server: serverPids.reduce((a, p) => a + cpuMs(p), 0),
    upstream: cpuMs(upstreamPid),
    driver: selfCpuMs(),
    system: sysBusyMs(),
    at: process.hrtime.bigint(),
  };
}

export interface CpuDelta {
  serverMs: number;
  upstreamMs: number;
  driverMs: number;
  wallMs: number;
  /** CPU used by processes outside the benchmark, as % of the whole machine. */
  foreignPct: number;
  /** Machine busy %, everything included. */
  busyPct: number;
}

export function delta(a: CpuSnap, b: CpuSnap): CpuDelta {
  const serverMs = b.server - a.server;
  const upstreamMs = b.upstream - a.upstream;
  const driverMs = b.driver - a.driver;
  const wallMs = Number(b.at - a.at) / 1e6;
  const sys = b.system - a.system;
  const ours = (Number.isFinite(serverMs) ? serverMs : 0) + upstreamMs + driverMs;
  return {
    serverMs,
    upstreamMs,
    driverMs,
    wallMs,
    foreignPct: (100 * Math.max(0, sys - ours)) / (wallMs * CPUS),
    busyPct: (100 * sys) / (wallMs * CPUS),
  };
}
