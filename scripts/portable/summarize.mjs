// The closing table of run.sh: adapter, probe, selfcheck counts, the first bench lines.
//   node summarize.mjs OUTDIR
// Exit status 0 when probe.json says the known-answer check passed and selfcheck.json says
// pass; 1 otherwise (a missing or unreadable file counts as not passed).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const BENCH_LINES = 8;
const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write('summarize.mjs: error: OUTDIR: missing (usage: node summarize.mjs OUTDIR)\n');
  process.exit(2);
}

/** The parsed JSON file, or a string saying why there is none. */
function readJson(name) {
  const path = join(outDir, name);
  if (!existsSync(path)) return `no ${name}`;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return `${name} is not valid JSON (${e.message})`;
  }
}

const num = (v, digits) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '');

function adapterLine(probe) {
  const a = probe.adapter ?? {};
  const sub = a.subgroupMinSize != null ? `${a.subgroupMinSize}..${a.subgroupMaxSize}` : 'none';
  const f16 = (a.features ?? []).includes('shader-f16') ? 'yes' : 'no';
  return `${a.description ?? '?'} (vendor ${a.vendor || '?'}, ${a.architecture || '?'}${a.fallback ? ', SOFTWARE' : ''}); f16 ${f16}, subgroups ${sub}; kernels ${probe.kernelProfile ?? '?'}`;
}

function selfcheckLines(sc) {
  const checks = Array.isArray(sc.checks) ? sc.checks : [];
  const failed = checks.filter((c) => !c.pass);
  const lines = [`${checks.length - failed.length} passed, ${failed.length} failed, ${(sc.skipped ?? []).length} skipped${sc.seconds != null ? ` in ${num(sc.seconds, 0)} s` : ''}: ${sc.pass ? 'PASS' : 'FAIL'}`];
  for (const c of failed.slice(0, 5)) lines.push(`  failed: ${c.group}/${c.name} ${c.variant} ${c.dtype} ${c.shape}: ${c.error ?? `max err ${c.maxAbsErr} > ${c.tolKind} tol ${c.tol}`}`);
  if (failed.length > 5) lines.push(`  ... ${failed.length - 5} more failures in selfcheck.json`);
  return lines;
}

function benchLines(bench) {
  const cases = (Array.isArray(bench.cases) ? bench.cases : []).filter((c) => !c.error);
  if (!cases.length) return ['no timed cases'];
  const head = ['name', 'shape', 'dtype', 'impl', 'variant', 'median ms', 'GFLOP/s', 'GB/s'];
  const rows = cases.slice(0, BENCH_LINES).map((c) => [c.name, c.shape, c.dtype, c.impl, c.variant, num(c.median_ms, 3), num(c.gflops, 1), num(c.gbps, 1)].map((v) => String(v ?? '')));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => '  ' + r.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  const out = [`${cases.length} timed cases${cases.length > BENCH_LINES ? ` (first ${BENCH_LINES}; all in bench-gpu.md)` : ''}`, line(head), ...rows.map(line)];
  return out;
}

const probe = readJson('probe.json');
const sc = readJson('selfcheck.json');
const bench = readJson('bench-gpu.json');
const probePass = typeof probe === 'object' && probe.selfTest?.pass === true;
const scPass = typeof sc === 'object' && sc.pass === true;

const rows = [
  ['adapter', typeof probe === 'object' ? adapterLine(probe) : probe],
  ['probe', typeof probe === 'object' ? `known-answer matmul ${probePass ? 'PASS' : 'FAIL'}` : 'FAIL'],
  ['selfcheck', ...(typeof sc === 'object' ? selfcheckLines(sc) : [sc])],
  ['bench', ...(typeof bench === 'object' ? benchLines(bench) : [bench])],
];
const lines = ['', `== echoclip GPU run: ${outDir}`];
for (const [label, first, ...rest] of rows) {
  lines.push(`${label.padEnd(10)} ${first}`);
  for (const r of rest) lines.push(`${' '.repeat(10)} ${r}`);
}
process.stdout.write(lines.join('\n') + '\n\n');
process.exit(probePass && scPass ? 0 : 1);
