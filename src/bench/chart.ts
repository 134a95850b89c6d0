// The bench chart: one row per compared case, one horizontal bar per impl (median ms), on a log
// scale so a 50 µs kernel and a 5 s tower share one axis. Hand-written SVG (no dependency).
import { PEERS, type ReportCase } from './peers/compare.js';
import { comparisons, speedup, type PeerReport } from './peers/report.js';

const IMPLS = ['echoclip', ...PEERS] as const;
const COLORS: Record<(typeof IMPLS)[number], string> = {
  echoclip: '#1b9e77',
  'onnxruntime-node': '#d95f02',
  'onnxruntime-web': '#7570b3',
  tfjs: '#e7298a',
};

const LABEL_W = 330;
const PLOT_W = 520;
const RIGHT_W = 110;
const BAR_H = 9;
const ROW_GAP = 10;
const TOP = 64;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

const finite = (c: ReportCase | null | undefined): c is ReportCase => !!c && !c.error && Number.isFinite(c.median_ms) && c.median_ms > 0;

export function renderChart(report: PeerReport): string {
  const rows = comparisons(report.cases);
  const times = rows.flatMap((r) => [r.ours, ...Object.values(r.peers)]).filter(finite).map((c) => c.median_ms);
  const lo = Math.floor(Math.log10(Math.min(...times, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...times, 10)));
  const xOf = (v: number) => LABEL_W + ((Math.log10(v) - lo) / (hi - lo)) * PLOT_W;
  const rowH = IMPLS.length * BAR_H + ROW_GAP;
  const height = TOP + rows.length * rowH + 30;
  const width = LABEL_W + PLOT_W + RIGHT_W;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="18" font-size="13" font-weight="bold">${escapeXml(`echoclip-webgpu vs peers — ${report.adapter.description} (${report.adapter.runtime})`)}</text>`,
    `<text x="8" y="34" fill="#555">median ms per call, log scale (shorter is faster); right: speed-up over the fastest peer</text>`,
  ];
  IMPLS.forEach((impl, i) => {
    const lx = LABEL_W + i * 130;
    out.push(`<rect x="${lx}" y="42" width="10" height="10" fill="${COLORS[impl]}"/><text x="${lx + 14}" y="51">${impl}</text>`);
  });
  for (let e = lo; e <= hi; e++) {
    const gx = xOf(10 ** e).toFixed(1);
    const label = e >= 3 ? `${10 ** (e - 3)} s` : e >= 0 ? `${10 ** e} ms` : `${(10 ** e).toFixed(-e)} ms`;
    out.push(`<line x1="${gx}" y1="${TOP - 4}" x2="${gx}" y2="${height - 26}" stroke="#ddd"/><text x="${gx}" y="${height - 12}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  rows.forEach((r, k) => {
    const y0 = TOP + k * rowH;
    out.push(`<text x="${LABEL_W - 6}" y="${y0 + (IMPLS.length * BAR_H) / 2 + 4}" text-anchor="end">${escapeXml(`${r.name} ${r.shape}`)}</text>`);
    IMPLS.forEach((impl, i) => {
      const c = impl === 'echoclip' ? r.ours : r.peers[impl];
      const y = y0 + i * BAR_H;
      if (finite(c)) {
        out.push(`<rect x="${LABEL_W}" y="${y}" width="${Math.max(1, xOf(c.median_ms) - LABEL_W).toFixed(1)}" height="${BAR_H - 1}" fill="${COLORS[impl]}"><title>${escapeXml(`${impl}: ${c.median_ms.toFixed(3)} ms`)}</title></rect>`);
      } else if (c) {
        out.push(`<text x="${LABEL_W + 2}" y="${y + BAR_H - 1}" fill="#b00" font-size="9">${escapeXml(`${impl}: error`)}</text>`);
      }
    });
    const best = Math.min(...PEERS.map((p) => speedup(r.ours, r.peers[p])).filter((v): v is number => v !== null));
    if (Number.isFinite(best)) out.push(`<text x="${LABEL_W + PLOT_W + 8}" y="${y0 + (IMPLS.length * BAR_H) / 2 + 4}" fill="${best >= 1 ? '#1b9e77' : '#b00'}">${best.toFixed(2)}×</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
