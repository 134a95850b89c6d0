import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, relative } from 'node:path';
import { requestDevice, type Gpu } from '../gpu/device.js';
import { renderChart } from '../bench/chart.js';
import { formatTable, type TimingOptions } from '../bench/harness.js';
import { benchMatmul, benchVariants } from '../bench/kernels.js';
import { benchDense } from '../bench/kernels-dense.js';
import { benchAttention, benchAvgPool, benchElementwise, benchL2Norm, benchLayerNorm, benchSoftmax } from '../bench/kernels-misc.js';
import { comparePeers, PEERS, type PeerImpl, type ReportCase } from '../bench/peers/compare.js';
import { kernelCases } from '../bench/peers/kernel-cases.js';
import { formatResultsMarkdown, type PeerReport, type Skipped } from '../bench/peers/report.js';
import { benchE2e } from '../bench/e2e.js';
import { benchModels } from '../bench/models.js';
import { benchZeroShotEf } from '../bench/peers/e2e.js';
import { imageTowerCase, textTowerCase, TowerContext } from '../bench/peers/tower-cases.js';
import { syntheticWeights } from '../bench/synthetic.js';
import { benchTrain } from '../bench/train.js';
import { attachVsPytorch, formatGpuMarkdown, GPU_SIZES, renderGpuChart, runGpuSuite, SOFTWARE_SIZES, type GpuReport } from '../bench/gpu.js';
import { interruptedSkip, onInterrupt } from './interrupt.js';
import type { Precision } from '../autograd/tape.js';
import { ECHOCLIP_CONFIG, type ClipConfig } from '../models/config.js';
import { UsageError } from '../errors.js';
import { flagInt, flagNumber, flagString, parseArgs } from './args.js';
import { formatTuning, loadTuning, tableFamilies, tuneAndCache } from '../kernels/tuning.js';

// 'gpu' is not part of 'all': it is its own budgeted run (`--budget`), sized for real GPUs.
const SUITES = ['kernels', 'models', 'memory', 'e2e', 'train', 'all', 'gpu'] as const;
type Suite = (typeof SUITES)[number];

const PEER_ALIASES: Record<string, PeerImpl> = { 'onnxruntime-node': 'onnxruntime-node', node: 'onnxruntime-node', 'onnxruntime-web': 'onnxruntime-web', web: 'onnxruntime-web', tfjs: 'tfjs' };

function parsePeers(v: string | undefined): PeerImpl[] {
  if (v === undefined) return [...PEERS];
  if (v === 'none') return [];
  return v.split(',').map((p) => {
    const impl = PEER_ALIASES[p.trim()];
    if (!impl) throw new UsageError('echoclip bench --peers', `unknown peer '${p}'`, { hint: `a comma list of ${Object.keys(PEER_ALIASES).join(', ')}, or 'none'` });
    return impl;
  });
}

interface SuiteContext {
  gpu: Gpu;
  timing: TimingOptions;
  peers: PeerImpl[];
  frames: number;
  config: ClipConfig;
  skipped: Skipped[];
  log: (line: string) => void;
}

/**
 * Our kernel variants (no peers): every variant of every family in the kernel-variant table at the
 * full-size shapes, side by side in one run. Software adapters time the variants that no profile
 * defaults to at each family's first shape only (benchVariants), which keeps `--suite all` there
 * within its budget; real GPUs time every variant at every shape.
 */
async function kernelVariants(s: SuiteContext): Promise<ReportCase[]> {
  const { gpu, timing } = s;
  // On software adapters the 202-prompt batches take minutes per kernel; they run on real GPUs.
  const text = gpu.adapter.fallback ? [1] : [1, 202];
  if (gpu.adapter.fallback) s.skipped.push({ what: 'kernel variants at 202 prompts (softmax, attention)', why: 'software adapter: batch 1 only, to keep --suite all under 20 minutes' });
  if (gpu.adapter.fallback) s.skipped.push({ what: 'kernel variants that no profile defaults to, beyond each family\'s first shape', why: 'software adapter: each is a pipeline compile and seconds per shape; real GPUs run them at every shape' });
  const families: [string, () => Promise<ReportCase[]>][] = [
    ['matmul', () => benchMatmul(gpu, [256, 512, 1024], benchVariants(gpu, 'matmul'), timing)],
    ['dense (linear, patch conv, depthwise, depthwise + layernorm)', () => benchDense(gpu, timing)],
    ['layernorm', () => benchLayerNorm(gpu, timing)],
    ['elementwise', () => benchElementwise(gpu, timing)],
    ['softmax', () => benchSoftmax(gpu, timing, text)],
    ['attention', () => benchAttention(gpu, timing, text)],
    ['pooling (avg, EOT)', () => benchAvgPool(gpu, timing)],
    ['l2norm', () => benchL2Norm(gpu, timing)],
  ];
  const cases: ReportCase[] = [];
  for (const [what, run] of families) {
    // One failing family must not cost the rest of a 20-minute run: it is reported, not hidden.
    try {
      cases.push(...(await run()));
    } catch (e) {
      s.skipped.push({ what: `kernel variants: ${what}`, why: `failed: ${e instanceof Error ? e.message : String(e)}` });
      gpu.pool.trim();
    }
  }
  // Variant explorations are reported apart from the side-by-side cases (which use our defaults).
  return cases.map((c) => ({ ...c, suite: `${c.suite}-variants` }));
}

async function kernelsSuite(s: SuiteContext): Promise<ReportCase[]> {
  const text = s.gpu.adapter.fallback ? [1] : [1, 202];
  if (s.gpu.adapter.fallback) s.skipped.push({ what: 'side-by-side text kernels at 202 prompts', why: 'software adapter: batch 1 only' });
  const side = await comparePeers(s.gpu, kernelCases(text), { timing: s.timing, peers: s.peers, log: s.log });
  return [...side, ...(await kernelVariants(s))];
}

async function modelsSuite(s: SuiteContext): Promise<ReportCase[]> {
  const ctx = new TowerContext(syntheticWeights(s.config), s.config);
  const soft = s.gpu.adapter.fallback;
  const images = soft ? [1] : [1, s.frames];
  const texts = soft ? [1] : [1, 202];
  if (soft) s.skipped.push({ what: `image tower at ${s.frames} frames, text tower at 202 prompts`, why: 'software adapter: towers at batch 1 only (each peer needs seconds per frame); larger batches run on real GPUs' });
  // Towers take seconds per call on software adapters: the equality-check call is the warm-up,
  // and two interleaved rounds (~1 min each with three peers) fit the 20-minute budget.
  const timing: TimingOptions = soft ? { warmup: 0, repeats: Math.min(s.timing.repeats, 2), maxSeconds: 120 } : s.timing;
  try {
    return await comparePeers(s.gpu, [...images.map((n) => imageTowerCase(ctx, n)), ...texts.map((n) => textTowerCase(ctx, n))], { timing, peers: s.peers, log: s.log });
  } finally {
    ctx.release();
    s.gpu.pool.trim();
  }
}

/** A comma-separated flag value, every item checked (empty when the flag is absent). */
function parseList(value: string | undefined, flag: string, ok: (v: string) => boolean, want: string): string[] {
  if (value === undefined) return [];
  const items = value.split(',').map((v) => v.trim());
  const bad = items.find((v) => !ok(v));
  if (bad !== undefined) throw new UsageError(`echoclip bench ${flag}`, `'${bad}' is not one of ${want}`);
  return items;
}

function writeOutputs(args: ReturnType<typeof parseArgs>, json: string, chartSvg: () => string, markdown: (chartRel: string | undefined) => string): void {
  const out = flagString(args, 'out');
  const write = (path: string, text: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  };
  if (out) write(out, json + '\n');
  // Chart and table go next to --out unless given explicitly.
  const stem = out?.replace(/\.json$/i, '');
  const chart = flagString(args, 'chart') ?? (stem ? `${stem}.svg` : undefined);
  const md = flagString(args, 'md') ?? (stem ? `${stem}.md` : undefined);
  if (chart) write(chart, chartSvg());
  if (md) write(md, markdown(chart ? relative(dirname(md), chart) : undefined));
  if (args.flags.has('json')) process.stdout.write(json + '\n');
}

/** `--suite gpu`: the budgeted real-GPU run (src/bench/gpu.ts), PyTorch on the same machine. */
async function gpuSuite(args: ReturnType<typeof parseArgs>, gpu: Gpu, s: SuiteContext, budgetS: number, loadStart: number[]): Promise<number> {
  const started = new Date().toISOString();
  const video = flagString(args, 'video'), prompts = flagString(args, 'prompts'), vocab = flagString(args, 'vocab');
  s.log(`${gpu.adapter.description} (${gpu.adapter.runtime}, kernels: ${gpu.kernelProfile}); budget ${budgetS} s`);
  const live = { cases: [] as ReportCase[], skipped: [] as Skipped[] };
  const emit = (r: Omit<GpuReport, 'adapter' | 'started' | 'machine'>) => {
    const report: GpuReport = { adapter: gpu.adapter, started, ...r, machine: { cpus: cpus().length, loadavg_start: loadStart, loadavg_end: loadavg() } };
    process.stderr.write(formatTable(report.cases.filter((c) => !c.error)) + '\n');
    for (const c of report.cases.filter((c) => c.error)) process.stderr.write(`${c.impl} ${c.name} ${c.shape} ${c.variant}: ${c.error}\n`);
    writeOutputs(args, JSON.stringify(report, null, 2), () => renderGpuChart(report), (chart) => formatGpuMarkdown(report, `echoclip bench --suite gpu --budget ${budgetS}`, chart));
  };
  // Killed at a hard limit: the cases that finished still reach the JSON, table and chart.
  const stopWatching = onInterrupt((signal) => {
    const sizes = { ...(gpu.adapter.fallback ? SOFTWARE_SIZES : GPU_SIZES) };
    emit({ suite: 'gpu', budget_s: budgetS, sizes, cases: attachVsPytorch(live.cases), skipped: [...live.skipped, interruptedSkip(signal)], breakdown: null, machine_info: { nvidia_smi: null, node: process.version, pytorch: null, pytorch_reason: 'not recorded: the run was interrupted' } });
    return 143;
  });
  try {
    emit(await runGpuSuite(gpu, { budgetS, timing: s.timing, config: s.config, log: s.log, e2e: video && prompts && vocab ? { video, prompts, vocab } : undefined, live }));
  } finally {
    stopWatching();
  }
  return 0;
}

/**
 * `echoclip bench --tune [--families LIST] [--budget S] [--cache-dir DIR] [--json] [--out FILE]`: the per-adapter
 * kernel-variant search (src/kernels/tuning.ts) on this adapter — software adapters included, as it
 * was asked for — written to the tuning cache that model loads read.
 */
async function tuneCommand(args: ReturnType<typeof parseArgs>): Promise<number> {
  const budgetS = flagNumber(args, 'budget', 'bench', 60);
  if (!(budgetS > 0)) throw new UsageError('echoclip bench --budget', `${budgetS} is not a positive number of seconds`);
  const families = parseList(flagString(args, 'families'), '--families', (f) => tableFamilies().includes(f as never), tableFamilies().join(', '));
  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  const log = (l: string) => process.stderr.write(`bench: ${l}\n`);
  try {
    log(`tuning on ${gpu.adapter.description} (${gpu.adapter.runtime}, kernels: ${gpu.kernelProfile}); budget ${budgetS} s`);
    const r = await tuneAndCache(gpu, { budgetS, cacheDir: flagString(args, 'cache-dir'), log, ...(families.length ? { only: (f: string) => families.includes(f) } : {}) });
    process.stderr.write(formatTuning(r.file, r.search));
    log(`${r.search.entries.length} choices measured in ${r.search.seconds.toFixed(1)} s; cache: ${r.written ?? 'not written'}`);
    const json = JSON.stringify({ cache: r.written, seconds: r.search.seconds, measured: r.search.entries.length, ...r.file }, null, 1);
    const out = flagString(args, 'out');
    if (out) {
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, json + '\n');
    }
    if (args.flags.has('json')) process.stdout.write(json + '\n');
    return 0;
  } finally {
    gpu.destroy();
  }
}

/** `echoclip bench [--suite kernels|models|e2e|train|all|gpu] [--budget S] [--json] [--out RESULT.json] [--md TABLE.md] [--peers LIST]`, or `--tune`. */
export async function benchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { suite: 'value', json: 'switch', out: 'value', md: 'value', chart: 'value', device: 'value', repeats: 'value', warmup: 'value', frames: 'value', peers: 'value', video: 'value', prompts: 'value', vocab: 'value', tasks: 'value', 'train-batches': 'value', precision: 'value', budget: 'value', tune: 'switch', families: 'value', 'cache-dir': 'value' }, 'bench');
  if (args.flags.has('tune')) {
    if (args.flags.has('suite')) throw new UsageError('echoclip bench --tune', 'runs the tuning search alone', { hint: 'run `echoclip bench --tune` first, then `echoclip bench --suite …` (suites read the tuning cache)' });
    return tuneCommand(args);
  }
  const suite = (flagString(args, 'suite') ?? 'kernels') as Suite;
  if (!(SUITES as readonly string[]).includes(suite)) throw new UsageError('echoclip bench', `unknown suite '${suite}'`, { hint: `one of ${SUITES.join(', ')}` });
  const peers = parsePeers(flagString(args, 'peers'));
  // Train-suite lists, checked before the (slow) device setup.
  const batches = parseList(flagString(args, 'train-batches'), '--train-batches', (v) => /^\d+$/.test(v) && +v >= 2, 'integers >= 2').map(Number);
  const precisions = parseList(flagString(args, 'precision'), '--precision', (v) => v === 'f32' || v === 'mixed', 'f32 or mixed') as Precision[];
  const budgetS = flagInt(args, 'budget', 'bench', 480);
  if (budgetS < 1) throw new UsageError('echoclip bench --budget', `${budgetS} is not a positive number of seconds`);
  if (args.flags.has('budget') && suite !== 'gpu') throw new UsageError('echoclip bench --budget', `only --suite gpu is budgeted (got --suite ${suite})`);
  const loadStart = loadavg();
  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  // Suites measure what users get: the variants the tuning cache picked (never searching here;
  // `--suite gpu` tunes first, as a model load would).
  await loadTuning(gpu, { cacheDir: flagString(args, 'cache-dir'), log: (l) => process.stderr.write(`bench: ${l}\n`) });
  const soft = gpu.adapter.fallback;
  // Software adapters: few repeats, bounded per case, so `--suite all` stays under 20 minutes.
  // The gpu suite bounds each case to seconds: its budget covers dozens of cases.
  const timing: TimingOptions = { warmup: flagInt(args, 'warmup', 'bench', suite === 'gpu' && !soft ? 3 : 1), repeats: flagInt(args, 'repeats', 'bench', soft ? 3 : suite === 'gpu' ? 20 : 10), maxSeconds: soft ? 10 : suite === 'gpu' ? 5 : 60 };
  const s: SuiteContext = { gpu, timing, peers, frames: flagInt(args, 'frames', 'bench', 20), config: ECHOCLIP_CONFIG as ClipConfig, skipped: [], log: (l) => process.stderr.write(`bench: ${l}\n`) };
  const cases: ReportCase[] = [];
  const started = new Date().toISOString();
  const t0 = performance.now();
  try {
    if (suite === 'gpu') return await gpuSuite(args, gpu, s, budgetS, loadStart);
    s.log(`${gpu.adapter.description} (${gpu.adapter.runtime}, kernels: ${gpu.kernelProfile}); peers: ${peers.join(', ') || 'none'}`);
    const want = (x: Suite) => suite === x || suite === 'all';
    if (want('kernels')) cases.push(...(await kernelsSuite(s)));
    if (want('models')) cases.push(...(await modelsSuite(s)));
    // Weights + one full batch (20 frames, text micro-batches), f32 and f16 weights: peak GPU
    // memory and throughput. Minutes per dtype on software adapters, so there only when asked.
    if (suite === 'memory' || (suite === 'all' && !soft)) cases.push(...(await benchModels(gpu, { frames: s.frames, log: s.log })));
    else if (suite === 'all') s.skipped.push({ what: 'memory suite (weights + 20-frame batch, f32 and f16)', why: 'software adapter: ~10 minutes; run `echoclip bench --suite memory`' });
    if (want('e2e')) cases.push(...(await benchZeroShotEf(gpu, s.config, { frames: soft ? 1 : s.frames, timing: soft ? { warmup: 0, repeats: 2, maxSeconds: 20 } : timing, log: s.log })));
    if (soft && want('e2e')) s.skipped.push({ what: `zero-shot EF at ${s.frames} frames`, why: 'software adapter: 1 frame per clip' });
    // The whole `echoclip zero-shot` path (decode, both towers, prompt cache cold and warm) when
    // given the inputs it needs.
    const video = flagString(args, 'video'), prompts = flagString(args, 'prompts'), vocab = flagString(args, 'vocab');
    if (want('e2e') && video && prompts && vocab) cases.push(...(await benchE2e(gpu, { video, prompts, vocab, log: s.log, taskSets: flagString(args, 'tasks')?.split(';') })));
    else if (want('e2e')) s.skipped.push({ what: 'zero-shot through the CLI (cold/warm prompt cache)', why: 'needs --video, --prompts and --vocab' });
    s.skipped.push({ what: 'PyTorch rows', why: 'PyTorch runs in `echoclip bench --suite gpu` (bench/peers/torch_clip.py), not in this suite' });
    if (want('train')) {
      // Full CLIP steps (both towers, ClipLoss, backward, AdamW) take minutes on software adapters.
      if (soft && !batches.length) s.skipped.push({ what: 'train_step at batch 8', why: 'software adapter: batch 2 only (--train-batches to choose)' });
      if (!gpu.f16 && !precisions.length) s.skipped.push({ what: 'train_step in mixed f16/f32', why: 'the adapter has no shader-f16' });
      try {
        cases.push(...(await benchTrain(gpu, { batches: batches.length ? batches : soft ? [2] : [8], precisions: precisions.length ? precisions : undefined, config: s.config, log: s.log })));
      } catch (e) {
        s.skipped.push({ what: 'train suite (echoclip)', why: `failed: ${e instanceof Error ? e.message : String(e)}` });
      }
      s.skipped.push({ what: 'train_step for TF.js', why: 'not written yet: the TF.js CLIP would need its ClipLoss + AdamW training loop in src/bench/peers/tfjs.ts; ONNX Runtime Web/Node have no training API here' });
    }
    const report: PeerReport = { adapter: gpu.adapter, started, cases, skipped: s.skipped, machine: { cpus: cpus().length, loadavg_start: loadStart, loadavg_end: loadavg() } };
    s.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    process.stderr.write(formatTable(cases.filter((c) => !c.error)) + '\n');
    for (const c of cases.filter((c) => c.error)) process.stderr.write(`${c.impl} ${c.name} ${c.shape}: ${c.error}\n`);
    writeOutputs(args, JSON.stringify(report, null, 2), () => renderChart(report), (chart) => formatResultsMarkdown(report, `echoclip bench --suite ${suite}`, chart));
    return 0;
  } finally {
    gpu.destroy();
  }
}
