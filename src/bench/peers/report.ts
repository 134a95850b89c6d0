// Side-by-side view of a bench report: cases grouped by (suite, name, shape, dtype), our median
// against each peer's, speed-up = peer median / our median, and the goal (≥ 1.5× the fastest
// ONNX Runtime EP and ≥ 1.5× TF.js). Rendered as the Markdown table in bench/RESULTS.md.
import { formatMarkdown, type BenchReport } from '../harness.js';
import { PEERS, type PeerImpl, type ReportCase } from './compare.js';

export const SPEEDUP_GOAL = 1.5;

/** What a run left out (e.g. large batches on a software adapter), with the reason. */
export interface Skipped {
  what: string;
  why: string;
}

/** The JSON `echoclip bench` writes: the harness report plus errors, skips and the machine load. */
export interface PeerReport extends BenchReport {
  cases: ReportCase[];
  skipped?: Skipped[];
  /** os.loadavg() at start and end, and CPU count: software-adapter numbers depend on it. */
  machine?: { cpus: number; loadavg_start: number[]; loadavg_end: number[] };
}

export interface Comparison {
  suite: string;
  name: string;
  shape: string;
  dtype: string;
  ours: ReportCase | null;
  peers: Partial<Record<PeerImpl, ReportCase>>;
}

const ok = (c: ReportCase | undefined | null): c is ReportCase => !!c && !c.error && Number.isFinite(c.median_ms);

/** Groups cases that have at least one peer; our fastest variant stands for us. */
export function comparisons(cases: readonly ReportCase[]): Comparison[] {
  const groups = new Map<string, Comparison>();
  for (const c of cases) {
    const key = [c.suite, c.name, c.shape, c.dtype].join('\u0000');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { suite: c.suite, name: c.name, shape: c.shape, dtype: c.dtype, ours: null, peers: {} }));
    if (c.impl === 'echoclip') {
      if (!ok(g.ours) || (ok(c) && c.median_ms < g.ours.median_ms)) g.ours = c;
    } else if ((PEERS as readonly string[]).includes(c.impl)) {
      g.peers[c.impl as PeerImpl] = c;
    }
  }
  return [...groups.values()].filter((g) => Object.keys(g.peers).length > 0);
}

/** peer median / our median (> 1: we are faster), or null when either has no number. */
export function speedup(ours: ReportCase | null, peer: ReportCase | undefined): number | null {
  return ok(ours) && ok(peer) && ours.median_ms > 0 ? peer.median_ms / ours.median_ms : null;
}

/** Speed-up over the fastest ONNX Runtime EP that produced a number. */
export function ortSpeedup(c: Comparison): number | null {
  const s = (['onnxruntime-node', 'onnxruntime-web'] as const).map((p) => speedup(c.ours, c.peers[p])).filter((v): v is number => v !== null);
  return s.length ? Math.min(...s) : null;
}

function ms(c: ReportCase | undefined | null): string {
  if (!c) return '—';
  if (!ok(c)) return 'error¹';
  return c.median_ms >= 100 ? c.median_ms.toFixed(0) : c.median_ms >= 10 ? c.median_ms.toFixed(1) : c.median_ms.toFixed(2);
}

const x = (v: number | null) => (v === null ? '—' : `${v.toFixed(2)}×`);

function verdict(c: Comparison): string {
  const a = ortSpeedup(c), b = speedup(c.ours, c.peers.tfjs);
  const known = [a, b].filter((v): v is number => v !== null);
  if (!known.length) return 'no peer numbers';
  const behind = known.some((v) => v < 1);
  return known.every((v) => v >= SPEEDUP_GOAL) ? 'met' : behind ? '**behind**' : 'ahead, < 1.5×';
}

export function formatComparisonMarkdown(report: PeerReport): string {
  const a = report.adapter;
  const rows = comparisons(report.cases);
  const lines = [
    `Adapter: **${a.description}** (${a.vendor || 'unknown vendor'}${a.architecture ? `, ${a.architecture}` : ''}; ${a.runtime}${a.fallback ? ', software adapter' : ''}) — run started ${report.started}.`,
    ...(report.machine ? [`Machine: ${report.machine.cpus} CPUs, load average ${report.machine.loadavg_start.map((v) => v.toFixed(1)).join(' / ')} at start, ${report.machine.loadavg_end.map((v) => v.toFixed(1)).join(' / ')} at end (shared machine: software-adapter numbers are noisy).`] : []),
    '',
    'Median wall time per call in ms (lower is better); speed-up = peer median / our median (> 1: echoclip is faster). Goal: ≥ 1.5× the fastest ONNX Runtime WebGPU EP and ≥ 1.5× TF.js.',
    '',
    '| suite | case | shape | echoclip | ORT node | ORT web | TF.js | vs fastest ORT | vs TF.js | goal |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((c) => `| ${c.suite} | ${c.name} | ${c.shape} | ${ms(c.ours)} | ${ms(c.peers['onnxruntime-node'])} | ${ms(c.peers['onnxruntime-web'])} | ${ms(c.peers.tfjs)} | ${x(ortSpeedup(c))} | ${x(speedup(c.ours, c.peers.tfjs))} | ${verdict(c)} |`),
  ];
  const errors = report.cases.filter((c) => c.error);
  if (errors.length) {
    lines.push('', '¹ Errors (the impl produced no number for the case):', '');
    for (const e of errors) lines.push(`- ${e.impl}, ${e.name} ${e.shape}: ${e.error}`);
  }
  if (report.skipped?.length) {
    lines.push('', 'Skipped in this run:', '');
    for (const s of report.skipped) lines.push(`- ${s.what}: ${s.why}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The whole results page (bench/RESULTS.md): side-by-side table, chart link, then the rows that
 * have no peer (our kernel variants, end to end, training) in the harness's table format.
 */
export function formatResultsMarkdown(report: PeerReport, command: string, chartPath?: string): string {
  const solo = report.cases.filter((c) => c.suite.endsWith('-variants') || c.suite === 'e2e' || c.suite === 'train');
  const soloTable = solo.length ? `\n## echoclip only (kernel variants, end to end, training)\n\n${formatMarkdown({ ...report, cases: solo }).split('\n').slice(2).join('\n')}` : '';
  const head = `# echoclip-webgpu vs ONNX Runtime and TF.js\n\nGenerated by \`${command}\` (how it is measured: bench/README.md).\n\n`;
  return head + formatComparisonMarkdown(report) + (chartPath ? `\n![chart](${chartPath})\n` : '') + soloTable;
}
