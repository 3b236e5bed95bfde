/** A dependency-free SVG chart: added p50 over the floor and server CPU per call, per target. */
import type { Aggregate } from './main-rounds.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderSvg(
  agg: readonly Aggregate[],
  meta: { date: string; node: string; cpuModel: string },
): string {
  const rows = agg.filter((a) => a.family !== 'direct' && Number.isFinite(a.serverCpu));
  const rowH = 22;
  const labelW = 230;
  const panelW = 300;
  const gap = 40;
  const top = 58;
  const width = labelW + 2 * panelW + gap + 30;
  const height = top + rows.length * rowH + 40;
  const maxAdded = Math.max(0.1, ...rows.map((r) => (Number.isFinite(r.addedP50) ? r.addedP50 : 0)));
  const maxCpu = Math.max(0.1, ...rows.map((r) => r.serverCpu));
  const color = (r: Aggregate): string =>
    r.family === 'keyward'
      ? '#2563eb'
      : r.family === 'tutorial'
        ? '#f59e0b'
        : r.family === 'peer'
          ? '#a855f7'
          : '#6b7280';
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">keyward benchmark ${esc(meta.date.slice(0, 10))}: median of clean rounds</text>`,
    `<text x="10" y="34" fill="#555">${esc(meta.cpuModel)}, node ${esc(meta.node)}. Blue keyward, amber tutorial SDK server, grey floors, purple peer.</text>`,
    `<text x="${labelW}" y="${top - 8}" font-weight="bold">added p50 over direct call (ms, c=1)</text>`,
    `<text x="${labelW + panelW + gap}" y="${top - 8}" font-weight="bold">server CPU per call (ms, c=16)</text>`,
  );
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(r.target)}</text>`);
    const a = Number.isFinite(r.addedP50) ? Math.max(0, r.addedP50) : 0;
    const wa = (a / maxAdded) * (panelW - 50);
    out.push(
      `<rect x="${labelW}" y="${y + 3}" width="${wa.toFixed(1)}" height="${rowH - 6}" fill="${color(r)}"/>`,
    );
    out.push(
      `<text x="${(labelW + wa + 4).toFixed(1)}" y="${y + 14}">${Number.isFinite(r.addedP50) ? r.addedP50.toFixed(3) : 'n/a'}</text>`,
    );
    const x2 = labelW + panelW + gap;
    const wc = (r.serverCpu / maxCpu) * (panelW - 50);
    out.push(
      `<rect x="${x2}" y="${y + 3}" width="${wc.toFixed(1)}" height="${rowH - 6}" fill="${color(r)}"/>`,
    );
    out.push(`<text x="${(x2 + wc + 4).toFixed(1)}" y="${y + 14}">${r.serverCpu.toFixed(3)}</text>`);
  });
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
