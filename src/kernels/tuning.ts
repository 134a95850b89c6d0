// Per-adapter tuning: which variant of each op family (and, for GEMMs, of each shape class) is
// fastest on THIS adapter, measured once and cached as JSON per adapter in the cache directory.
//
//   search    for every family with more than one available variant (variants.ts), time each
//             variant on EchoCLIP's real shapes (GPU timestamps where the device has them, else
//             wall clock around back-to-back runs) and keep the fastest per (family, shape class).
//   cache     <cacheDir>/tuning/<vendor>-<architecture>-<hash>.json, one file per adapter key
//             (vendor, architecture, device, description — Dawn puts the driver there — runtime,
//             and the variant-relevant features), with a schema version and every timing.
//   lookup    `gpu.tuning.pick(family, shapeClass)` (chooseVariant): the cache file's entry, else a
//             shipped default for the architecture (tuning-defaults.ts), else the table default. An
//             entry naming a variant the device cannot run (or that no longer exists) is dropped
//             with a warning when the table is built, so it is never chosen.
//
// Model loads (`tune: 'auto'`, the default) search only on real adapters — never on software
// ones (lavapipe, SwiftShader: CI must not tune) — only what the cache lacks, within ~3 s, then
// write the cache; 'cached' only reads; `echoclip bench --tune` searches everything on request,
// software adapters included. A search cut by its budget records what it finished; the next
// 'auto' load continues with the rest.
import { TuningCacheError } from '../errors.js';
import type { Gpu, TuningLookup } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { summarize, timeGpu } from '../bench/harness.js';
import { attentionCore, type AttentionVariant } from './attention.js';
import { depthwiseConv2d } from './depthwise.js';
import { depthwiseConv2dLayerNorm, type DepthwiseLayerNormVariant } from './depthwise-layernorm.js';
import { linear, type MatmulVariant } from './gemm/index.js';
import { gemmShapeClass } from './gemm/select.js';
import { layerNorm, type RowVariant } from './layernorm.js';
import { argmaxPool, globalAvgPool, l2Normalize, type L2NormVariant, type PoolingVariant } from './pooling.js';
import { softmax } from './softmax.js';
import { SHIPPED_TUNING, type ShippedTuning, type TuningChoice } from './tuning-defaults.js';
import { availableVariants, deviceHas, familyVariants, KERNEL_VARIANTS, variantAvailable, type KernelFamily, type KernelVariant, type VariantNeed } from './variants.js';

export type TuneMode = 'auto' | 'off' | 'cached';

/** Version of the cache file layout; a file of another version is ignored (and re-measured by 'auto'). */
export const TUNING_SCHEMA = 1;

/** Seconds a model load ('auto') may spend searching. */
export const AUTO_TUNE_BUDGET_S = 3;

/** What a cache file is keyed by: a different driver, runtime or feature set is another file. */
export interface TuningAdapterKey {
  vendor: string;
  architecture: string;
  device: string;
  /** Dawn's adapter description (on Vulkan and D3D it carries the driver name and version). */
  description: string;
  runtime: string;
  /** Device features that decide which variants exist: shader-f16, subgroups, subgroup-matrix. */
  features: string[];
  experimentalKernels: boolean;
}

/** One measured (family, shape class): every available variant's time, the fastest as winner. */
export interface TuningEntry {
  family: string;
  shapeClass: string;
  /** The shapes timed (their times are summed per variant). */
  shapes: string[];
  /** Median ms per variant (null: it failed on these shapes, see `errors`). */
  timings_ms: Record<string, number | null>;
  errors?: Record<string, string>;
  method: 'gpu-timestamp' | 'wall-clock';
  /** null when every variant failed (kept, so 'auto' does not retry it at every load). */
  winner: string | null;
}

export interface TuningFile {
  schema: number;
  kind: 'echoclip-tuning';
  key: TuningAdapterKey;
  updated: string;
  entries: TuningEntry[];
  /** Groups a budget-cut search did not reach. */
  skipped: { what: string; why: string }[];
}

export interface TuningOptions {
  /** Cache root (Node/Deno; default $ECHOCLIP_CACHE_DIR or ~/.cache/echoclip). */
  cacheDir?: string;
  /** Where the cache file lives (default: the Node/Deno file under cacheDir; none in browsers). */
  store?: TuningStore | null;
  /** Warnings and progress (default: console.warn). */
  log?: (line: string) => void;
  /** Shipped defaults (default: tuning-defaults.ts; tests inject their own). */
  shipped?: readonly ShippedTuning[];
}

/** The cache file of one adapter. */
export interface TuningStore {
  /** Where it is (a path), for messages. */
  location: string;
  /** The file's text, or undefined when there is none. */
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

const defaultLog = (line: string) => console.warn(`echoclip: ${line}`);

// ---------------------------------------------------------------- adapter key, variant status

export function tuningKey(gpu: Gpu): TuningAdapterKey {
  const a = gpu.adapter;
  const needs: VariantNeed[] = ['shader-f16', 'subgroups', 'subgroup-matrix'];
  return {
    vendor: a.vendor,
    architecture: a.architecture,
    device: a.device,
    description: a.description,
    runtime: a.runtime,
    features: needs.filter((n) => deviceHas(gpu, n)),
    experimentalKernels: gpu.experimentalKernels,
  };
}

/** `<vendor>-<architecture>-<16 hex of sha256(key)>.json`, safe on every file system. */
export async function tuningFileName(key: TuningAdapterKey): Promise<string> {
  const text = JSON.stringify([key.vendor, key.architecture, key.device, key.description, key.runtime, key.features, key.experimentalKernels]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  const hex = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
  const slug = [key.vendor, key.architecture].filter(Boolean).join('-').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  return `${slug || 'adapter'}-${hex}.json`;
}

/**
 * Why the device cannot run `v` (null: it can): the features the adapter lacks, or that the
 * variant is experimental and experimental kernels are off.
 */
export function unavailableReason(gpu: Gpu, v: KernelVariant): string | null {
  if (variantAvailable(gpu, v)) return null;
  const why: string[] = [];
  const adapterHas = (n: VariantNeed) => gpu.adapter.features.includes(n === 'subgroup-matrix' ? 'chromium-experimental-subgroup-matrix' : n);
  for (const n of v.needs) {
    if (deviceHas(gpu, n)) continue;
    if (!adapterHas(n)) why.push(`the adapter has no ${n}`);
    else if (!(n === 'subgroup-matrix' && v.experimental && !gpu.experimentalKernels)) why.push(`${n} is not enabled on this device`);
  }
  if (v.experimental && !gpu.experimentalKernels) why.push('experimental, off (ECHOCLIP_EXPERIMENTAL_KERNELS=1 enables it)');
  return why.join('; ') || 'not available on this device';
}

/** Which profiles make `v` their default on this device by the table: 'software', 'gpu', 'both' or 'none'. */
export function tableDefaultOn(gpu: Gpu, v: KernelVariant): 'software' | 'gpu' | 'both' | 'none' {
  const avail = availableVariants(gpu, v.family);
  const isDefault = (p: 'software' | 'gpu') => (avail.find((r) => r.defaultOn.includes(p)) ?? avail[0])?.name === v.name;
  const sw = isDefault('software'), hw = isDefault('gpu');
  return sw && hw ? 'both' : sw ? 'software' : hw ? 'gpu' : 'none';
}

/** The families of the table, in table order. */
export function tableFamilies(): KernelFamily[] {
  return [...new Set(KERNEL_VARIANTS.map((v) => v.family))];
}

// ---------------------------------------------------------------- the lookup

interface Layer {
  source: 'cache' | 'shipped';
  where: string;
  entries: Map<string, string>;
}

const entryKey = (family: string, shapeClass: string) => `${family}\u0000${shapeClass}`;

/**
 * The installed lookup: the cache file's entries, then the shipped defaults; within each, the
 * entry for (family, shapeClass), then the family-wide one (shapeClass ''). Every entry was
 * checked against the device when the table was built.
 */
export class TuningTable implements TuningLookup {
  constructor(
    readonly layers: readonly Layer[],
    /** The cache file as read (or as last written), null when there is none. */
    readonly file: TuningFile | null,
    readonly store: TuningStore | null,
  ) {}

  /** Set once a model load ('auto') has searched with this table: at most one search per device. */
  autoSearched = false;

  pick(family: string, shapeClass: string): string | undefined {
    return this.explain(family, shapeClass)?.variant;
  }

  /** The entry a pick comes from, or null (the table default applies). */
  explain(family: string, shapeClass: string): { variant: string; source: 'cache' | 'shipped'; where: string } | null {
    for (const l of this.layers) {
      const v = l.entries.get(entryKey(family, shapeClass)) ?? l.entries.get(entryKey(family, ''));
      if (v !== undefined) return { variant: v, source: l.source, where: l.where };
    }
    return null;
  }
}

/** Keeps the choices the device can run; warns about (and drops) the others. */
function checkedLayer(gpu: Gpu, source: Layer['source'], where: string, choices: readonly (Omit<TuningChoice, 'winner'> & { winner: string | null })[], log: (l: string) => void): Layer {
  const entries = new Map<string, string>();
  for (const c of choices) {
    if (c.winner === null || c.winner === undefined) continue;
    const v = familyVariants(c.family as KernelFamily).find((r) => r.name === c.winner);
    if (!v) {
      log(`tuning ${where}: ${c.family}${c.shapeClass ? ` (${c.shapeClass})` : ''} names variant '${c.winner}', which this version does not have; ignored`);
      continue;
    }
    const why = unavailableReason(gpu, v);
    if (why) {
      log(`tuning ${where}: ${c.family}${c.shapeClass ? ` (${c.shapeClass})` : ''} names variant '${c.winner}', which this device cannot run (${why}); ignored`);
      continue;
    }
    entries.set(entryKey(c.family, c.shapeClass), c.winner);
  }
  return { source, where, entries };
}

/** The shipped defaults whose `match` fits this adapter. */
export function matchingShipped(gpu: Gpu, shipped: readonly ShippedTuning[] = SHIPPED_TUNING): ShippedTuning[] {
  const a = gpu.adapter;
  const eq = (x: string | undefined, y: string) => x === undefined || x.toLowerCase() === y.toLowerCase();
  return shipped.filter((s) => eq(s.match.vendor, a.vendor) && eq(s.match.architecture, a.architecture) && eq(s.match.device, a.device) && (s.match.description === undefined || a.description.toLowerCase().includes(s.match.description.toLowerCase())));
}

/** Parses a cache file; throws TuningCacheError for anything that is not one of ours. */
export function parseTuningFile(text: string, where: string): TuningFile {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new TuningCacheError(where, `not JSON (${e instanceof Error ? e.message : String(e)})`, { hint: 'delete the file or run `echoclip bench --tune` to rewrite it' });
  }
  const f = j as Partial<TuningFile>;
  if (typeof f !== 'object' || f === null || f.kind !== 'echoclip-tuning') throw new TuningCacheError(where, 'not an echoclip tuning file', { hint: 'delete it; it is rewritten at the next tuning' });
  if (f.schema !== TUNING_SCHEMA) throw new TuningCacheError(where, `schema ${String(f.schema)}, this version reads ${TUNING_SCHEMA}`, { hint: 'run `echoclip bench --tune` to re-measure' });
  const okEntry = (e: unknown): e is TuningEntry => {
    const x = e as TuningEntry;
    return typeof x === 'object' && x !== null && typeof x.family === 'string' && typeof x.shapeClass === 'string' && (x.winner === null || typeof x.winner === 'string') && typeof x.timings_ms === 'object' && x.timings_ms !== null;
  };
  if (!Array.isArray(f.entries) || !f.entries.every(okEntry) || typeof f.key !== 'object' || f.key === null) throw new TuningCacheError(where, 'malformed entries or key', { hint: 'delete the file or run `echoclip bench --tune` to rewrite it' });
  return { schema: f.schema, kind: f.kind, key: f.key, updated: String(f.updated ?? ''), entries: f.entries, skipped: Array.isArray(f.skipped) ? f.skipped : [] };
}

/**
 * The Node/Deno cache file of this adapter, or null where there is no file system (browsers).
 * Node built-ins are imported by computed specifiers so that browser bundles never see them.
 */
export async function defaultTuningStore(gpu: Gpu, cacheDir?: string): Promise<TuningStore | null> {
  const g = globalThis as { process?: { versions?: { node?: string }; env?: Record<string, string | undefined> }; Deno?: unknown };
  if (!g.process?.versions?.node && g.Deno === undefined) return null;
  const spec = (m: string) => `node:${m}`;
  let fs: typeof import('node:fs/promises'), path: typeof import('node:path'), os: typeof import('node:os');
  try {
    [fs, path, os] = await Promise.all([import(/* @vite-ignore */ spec('fs/promises')), import(/* @vite-ignore */ spec('path')), import(/* @vite-ignore */ spec('os'))]);
  } catch {
    return null;
  }
  const root = cacheDir ?? g.process?.env?.ECHOCLIP_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'echoclip');
  const file = path.join(root, 'tuning', await tuningFileName(tuningKey(gpu)));
  return {
    location: file,
    read: async () => {
      try {
        return await fs.readFile(file, 'utf8');
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    write: async (text) => {
      await fs.mkdir(path.dirname(file), { recursive: true });
      // Whole file or nothing: another process may be reading it.
      const tmp = `${file}.${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`;
      await fs.writeFile(tmp, text);
      await fs.rename(tmp, file);
    },
  };
}

async function resolveStore(gpu: Gpu, opts: TuningOptions): Promise<TuningStore | null> {
  return opts.store !== undefined ? opts.store : defaultTuningStore(gpu, opts.cacheDir);
}

/** Builds the lookup from a cache file (may be null) and the shipped defaults, installs it on gpu.tuning. */
export function installTuning(gpu: Gpu, file: TuningFile | null, store: TuningStore | null, opts: Pick<TuningOptions, 'log' | 'shipped'> = {}): TuningTable {
  const log = opts.log ?? defaultLog;
  const layers: Layer[] = [];
  if (file) layers.push(checkedLayer(gpu, 'cache', store?.location ?? 'cache', file.entries, log));
  for (const s of matchingShipped(gpu, opts.shipped)) layers.push(checkedLayer(gpu, 'shipped', `shipped defaults (${s.measured})`, s.entries, log));
  const table = new TuningTable(layers, file, store);
  gpu.tuning = table;
  return table;
}

/**
 * Reads this adapter's cache file (a corrupt or foreign one is ignored with a warning) and
 * installs the lookup on gpu.tuning: cache entries, then shipped defaults, then the table default.
 */
export async function loadTuning(gpu: Gpu, opts: TuningOptions = {}): Promise<TuningTable> {
  const log = opts.log ?? defaultLog;
  const store = await resolveStore(gpu, opts);
  let file: TuningFile | null = null;
  if (store) {
    try {
      const text = await store.read();
      if (text !== undefined) file = parseTuningFile(text, store.location);
    } catch (e) {
      log(`tuning cache ignored: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (file && JSON.stringify(file.key) !== JSON.stringify(tuningKey(gpu))) {
      log(`tuning cache ${store.location} was measured on another adapter or driver; ignored`);
      file = null;
    }
  }
  return installTuning(gpu, file, store, opts);
}

// ---------------------------------------------------------------- forcing a variant

/** A lookup that answers `variant` for `family` and defers to `base` for the others. */
export function forcingLookup(family: string, variant: string, base: TuningLookup | null = null): TuningLookup {
  return { pick: (f, c) => (f === family ? variant : base?.pick(f, c)) };
}

/**
 * Runs `fn` — which records GPU work synchronously, as every launcher does — with the family's
 * default switched to `variant` (for launchers without a variant option, and the backward and
 * fused kernels that call the forward defaults).
 */
export function withVariant<T>(gpu: Gpu, family: KernelFamily, variant: string, fn: () => T): T {
  const saved = gpu.tuning;
  gpu.tuning = forcingLookup(family, variant, saved);
  try {
    return fn();
  } finally {
    gpu.tuning = saved;
  }
}

// ---------------------------------------------------------------- the search

/** One shape of a family to time: `make` allocates its tensors; `run(variant)` records one call. */
export interface TuningWorkload {
  family: KernelFamily;
  shapeClass: string;
  shape: string;
  make(gpu: Gpu): { run(variant: string): void; release(): void };
}

/** Sizes of the search: EchoCLIP's batches on real GPUs, batch 1 on software adapters. */
export interface TuningSizes {
  frames: number;
  prompts: number;
  square: number;
}

export const GPU_TUNING_SIZES: TuningSizes = { frames: 20, prompts: 202, square: 1024 };
export const SOFTWARE_TUNING_SIZES: TuningSizes = { frames: 1, prompts: 1, square: 256 };

/** Constant-filled (timing does not depend on values; no denormals, no NaN). */
const filled = (gpu: Gpu, shape: readonly number[], dtype: 'f32' | 'i32' = 'f32') => {
  const n = shape.reduce((a, b) => a * b, 1);
  return dtype === 'i32' ? Tensor.from(gpu, new Int32Array(n).fill(1), shape, 'i32') : Tensor.from(gpu, new Float32Array(n).fill(0.01), shape);
};

const release = (...ts: Tensor[]) => () => ts.forEach((t) => t.release());

/** A GEMM as the towers run it: linear(x [M, K], weight [N, K]) in f32. */
function gemmWorkload(label: string, M: number, N: number, K: number): TuningWorkload {
  return {
    family: 'matmul', shapeClass: gemmShapeClass(M, N, K), shape: `${label} ${M}x${K}->${N}`,
    make(gpu) {
      const x = filled(gpu, [M, K]), w = filled(gpu, [N, K]), y = Tensor.empty(gpu, [M, N]);
      return { run: (v) => void linear(x, w, undefined, { variant: v as MatmulVariant, out: y }), release: release(x, w, y) };
    },
  };
}

/**
 * The shapes timed per family, in order of importance (a budget cut keeps the first): the GEMMs
 * of both towers by shape class, then attention, the norms, the depthwise conv, pooling.
 */
export function tuningWorkloads(s: TuningSizes): TuningWorkload[] {
  const img = 3136 * s.frames, txt = 77 * s.prompts;
  const layerNorms = ([[img, 128], [txt, 512]] as const).map(([R, C]): TuningWorkload => ({
    family: 'layernorm', shapeClass: '', shape: `${R}x${C}`,
    make(gpu) {
      const x = filled(gpu, [R, C]), w = filled(gpu, [C]), b = filled(gpu, [C]), y = Tensor.empty(gpu, [R, C]);
      return { run: (v) => void layerNorm(x, w, b, { eps: 1e-6, variant: v as RowVariant, out: y }), release: release(x, w, b, y) };
    },
  }));
  return [
    gemmWorkload('image fc1', img, 512, 128),
    gemmWorkload('text fc1', txt, 2048, 512),
    gemmWorkload('square', s.square, s.square, s.square),
    gemmWorkload('text fc2 (1 prompt)', 77, 512, 2048),
    gemmWorkload('convnext s3 fc2 (1 frame)', 49, 1024, 4096),
    gemmWorkload('image fc2', img, 128, 512),
    gemmWorkload('text in_proj (1 prompt)', 77, 1536, 512),
    {
      family: 'attention', shapeClass: '', shape: `B${s.prompts} T77 8x64 causal`,
      make(gpu) {
        const qkv = filled(gpu, [s.prompts, 77, 1536]), y = Tensor.empty(gpu, [s.prompts, 77, 512]);
        return { run: (v) => void attentionCore(qkv, { heads: 8, causal: true, variant: v as AttentionVariant, out: y }), release: release(qkv, y) };
      },
    },
    ...layerNorms,
    {
      family: 'softmax', shapeClass: '', shape: `${8 * s.prompts}x77x77 causal`,
      make(gpu) {
        const x = filled(gpu, [8 * s.prompts, 77, 77]), y = Tensor.empty(gpu, [8 * s.prompts, 77, 77]);
        return { run: (v) => void softmax(x, { causal: true, variant: v as RowVariant, out: y }), release: release(x, y) };
      },
    },
    ...([[56, 128], [7, 1024]] as const).map(([H, C]): TuningWorkload => ({
      family: 'depthwise', shapeClass: '', shape: `${s.frames}x${H}x${H}x${C} 7x7`,
      make(gpu) {
        const x = filled(gpu, [s.frames, H, H, C]), w = filled(gpu, [7, 7, C]), b = filled(gpu, [C]), y = Tensor.empty(gpu, [s.frames, H, H, C]);
        // No variant option: withVariant (in the search loop) switches the default tile.
        return { run: () => void depthwiseConv2d(x, w, { bias: b, out: y }), release: release(x, w, b, y) };
      },
    })),
    {
      family: 'depthwise-layernorm', shapeClass: '', shape: `${s.frames}x56x56x128 7x7 + LN`,
      make(gpu) {
        const x = filled(gpu, [s.frames, 56, 56, 128]), w = filled(gpu, [7, 7, 128]), b = filled(gpu, [128]), lw = filled(gpu, [128]), lb = filled(gpu, [128]), y = Tensor.empty(gpu, [s.frames, 56, 56, 128]);
        return { run: (v) => void depthwiseConv2dLayerNorm(x, w, { bias: b, lnWeight: lw, lnBias: lb, eps: 1e-6, variant: v as DepthwiseLayerNormVariant, out: y }), release: release(x, w, b, lw, lb, y) };
      },
    },
    {
      family: 'pooling', shapeClass: '', shape: `avg ${s.frames}x7x7x1024`,
      make(gpu) {
        const x = filled(gpu, [s.frames, 7, 7, 1024]), y = Tensor.empty(gpu, [s.frames, 1024]);
        return { run: (v) => void globalAvgPool(x, { variant: v as PoolingVariant, out: y }), release: release(x, y) };
      },
    },
    {
      family: 'eot-pool', shapeClass: '', shape: `eot ${s.prompts}x77x512`,
      make(gpu) {
        const t = filled(gpu, [s.prompts, 77, 512]), ids = filled(gpu, [s.prompts, 77], 'i32'), e = Tensor.empty(gpu, [s.prompts, 512]);
        return { run: (v) => void argmaxPool(t, ids, { variant: v as PoolingVariant, out: e }), release: release(t, ids, e) };
      },
    },
    {
      family: 'l2norm', shapeClass: '', shape: `${s.prompts}x512`,
      make(gpu) {
        const x = filled(gpu, [s.prompts, 512]), y = Tensor.empty(gpu, [s.prompts, 512]);
        return { run: (v) => void l2Normalize(x, { variant: v as L2NormVariant, out: y }), release: release(x, y) };
      },
    },
  ];
}

/** Whether this is a software adapter that a model load must never tune on (CI). */
export function isSoftwareAdapter(gpu: Gpu): boolean {
  return gpu.adapter.fallback || /llvmpipe|lavapipe|swiftshader|microsoft basic render|\bwarp\b/i.test(gpu.adapter.description);
}

export interface SearchOptions {
  /** Seconds; a group starts only while time is left (so the run overshoots by at most one group). */
  budgetS: number;
  sizes?: TuningSizes;
  /** Only these (family, shapeClass) groups (default: every group with > 1 available variant). */
  only?: (family: string, shapeClass: string) => boolean;
  log?: (line: string) => void;
}

export interface SearchResult {
  entries: TuningEntry[];
  skipped: { what: string; why: string }[];
  seconds: number;
}

interface Group {
  family: KernelFamily;
  shapeClass: string;
  workloads: TuningWorkload[];
}

/** The (family, shape class) groups to measure on this device, in workload order. */
export function tuningGroups(gpu: Gpu, sizes: TuningSizes): { groups: Group[]; untimed: KernelFamily[] } {
  const groups: Group[] = [];
  for (const w of tuningWorkloads(sizes)) {
    if (availableVariants(gpu, w.family).length < 2) continue;
    let g = groups.find((x) => x.family === w.family && x.shapeClass === w.shapeClass);
    if (!g) groups.push((g = { family: w.family, shapeClass: w.shapeClass, workloads: [] }));
    g.workloads.push(w);
  }
  // Families with a choice but no workload here (a new family: add its shapes above).
  const untimed = tableFamilies().filter((f) => availableVariants(gpu, f).length > 1 && !groups.some((g) => g.family === f));
  return { groups, untimed };
}

/** Median GPU ms of one `run` (timestamps), or of back-to-back runs by wall clock. */
async function timeVariant(gpu: Gpu, run: () => void, sliceS: number): Promise<{ ms: number; method: TuningEntry['method'] }> {
  // The first run compiles the pipelines; the second's wall time (submit to done) sizes the repeats.
  run();
  await gpu.sync();
  const t0 = performance.now();
  run();
  await gpu.sync();
  const once = performance.now() - t0;
  const reps = Math.max(1, Math.min(32, Math.floor((sliceS * 1000) / Math.max(once, 0.05) / 2)));
  if (gpu.timestampQuery) {
    const records = await gpu.profile(() => {
      for (let i = 0; i < reps; i++) run();
    });
    if (records && records.length) {
      // One run may be several dispatches (split-K's summing pass, an unfused pair).
      const per = Math.max(1, Math.round(records.length / reps));
      const sums: number[] = [];
      for (let i = 0; i + per <= records.length; i += per) sums.push(records.slice(i, i + per).reduce((a, r) => a + r.ms, 0));
      const med = summarize(sums).median_ms;
      // A quantised or disabled timer reads 0: fall back to the wall clock.
      if (med > 0) return { ms: med, method: 'gpu-timestamp' };
    }
  }
  const inner = Math.max(1, Math.min(reps, 8));
  const t = await timeGpu(gpu, () => {
    for (let i = 0; i < inner; i++) run();
  }, { warmup: 0, repeats: 3, maxSeconds: sliceS });
  return { ms: t.median_ms / inner, method: 'wall-clock' };
}

/**
 * Times every available variant of every group (or the `only` ones) and returns one entry per
 * group measured. Never throws for a failing variant: its error is recorded, it cannot win.
 */
export async function searchTuning(gpu: Gpu, opts: SearchOptions): Promise<SearchResult> {
  const t0 = performance.now();
  const deadline = t0 + opts.budgetS * 1000;
  const log = opts.log ?? (() => undefined);
  const sizes = opts.sizes ?? (isSoftwareAdapter(gpu) ? SOFTWARE_TUNING_SIZES : GPU_TUNING_SIZES);
  const { groups, untimed } = tuningGroups(gpu, sizes);
  const entries: TuningEntry[] = [];
  const skipped: SearchResult['skipped'] = untimed.map((f) => ({ what: `${f}: ${availableVariants(gpu, f).map((v) => v.name).join(', ')}`, why: 'no tuning workload for this family (add its shapes in src/kernels/tuning.ts)' }));
  const todo = groups.filter((g) => !opts.only || opts.only(g.family, g.shapeClass));
  for (const g of todo) {
    const what = `${g.family}${g.shapeClass ? ` (${g.shapeClass})` : ''}`;
    if (performance.now() >= deadline) {
      skipped.push({ what, why: `budget: ${opts.budgetS} s spent` });
      continue;
    }
    const variants = availableVariants(gpu, g.family).map((v) => v.name);
    const totals: Record<string, number | null> = Object.fromEntries(variants.map((v) => [v, 0]));
    const errors: Record<string, string> = {};
    let method: TuningEntry['method'] = 'gpu-timestamp';
    // A slice per (variant, shape): the group's share of what is left, at least 20 ms.
    const slice = Math.max(0.02, Math.min(0.25, (deadline - performance.now()) / 1000 / Math.max(1, todo.length) / variants.length / g.workloads.length));
    for (const w of g.workloads) {
      const inst = w.make(gpu);
      try {
        for (const v of variants) {
          if (totals[v] === null) continue;
          try {
            const t = await timeVariant(gpu, () => withVariant(gpu, g.family, v, () => inst.run(v)), slice);
            totals[v]! += t.ms;
            if (t.method === 'wall-clock') method = 'wall-clock';
          } catch (e) {
            totals[v] = null;
            errors[v] = `${w.shape}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300)}`;
            await gpu.sync().catch(() => undefined);
          }
        }
      } finally {
        inst.release();
        gpu.pool.trim();
      }
    }
    const timed = Object.entries(totals).filter((e): e is [string, number] => e[1] !== null);
    const winner = timed.length ? timed.reduce((a, b) => (b[1] < a[1] ? b : a))[0] : null;
    entries.push({ family: g.family, shapeClass: g.shapeClass, shapes: g.workloads.map((w) => w.shape), winner, timings_ms: totals, ...(Object.keys(errors).length ? { errors } : {}), method });
    log(`tune ${what}: ${Object.entries(totals).map(([v, t]) => `${v} ${t === null ? 'failed' : `${t.toFixed(3)} ms`}`).join(', ')} -> ${winner ?? 'none'}`);
  }
  return { entries, skipped, seconds: (performance.now() - t0) / 1000 };
}

/** The groups the cache lacks, or measured with another set of variants than the device has now. */
export function missingGroups(gpu: Gpu, file: TuningFile | null, sizes?: TuningSizes): { family: string; shapeClass: string }[] {
  const { groups } = tuningGroups(gpu, sizes ?? (isSoftwareAdapter(gpu) ? SOFTWARE_TUNING_SIZES : GPU_TUNING_SIZES));
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
  return groups.filter((g) => {
    const e = file?.entries.find((x) => x.family === g.family && x.shapeClass === g.shapeClass);
    return !e || !same(Object.keys(e.timings_ms), availableVariants(gpu, g.family).map((v) => v.name));
  }).map((g) => ({ family: g.family, shapeClass: g.shapeClass }));
}

/** Merges a search into the file (new entries replace old ones of the same group). */
export function mergeTuning(gpu: Gpu, file: TuningFile | null, search: SearchResult): TuningFile {
  const entries = (file?.entries ?? []).filter((e) => !search.entries.some((n) => n.family === e.family && n.shapeClass === e.shapeClass));
  return { schema: TUNING_SCHEMA, kind: 'echoclip-tuning', key: tuningKey(gpu), updated: new Date().toISOString(), entries: [...entries, ...search.entries], skipped: search.skipped };
}

export interface TuneResult {
  table: TuningTable;
  search: SearchResult;
  file: TuningFile;
  /** Where the file was written (null: no store, or the write failed — see the log). */
  written: string | null;
}

/**
 * Searches (every group, or `only`), merges the result into this adapter's cache file, writes it
 * and installs the new lookup. A failed write is a warning: the lookup still holds.
 */
export async function tuneAndCache(gpu: Gpu, opts: TuningOptions & SearchOptions & { previous?: TuningTable }): Promise<TuneResult> {
  const log = opts.log ?? defaultLog;
  const previous = opts.previous ?? (await loadTuning(gpu, { ...opts, log }));
  const saved = gpu.tuning;
  gpu.tuning = null; // time the table's variants, not the old picks, for the families not forced
  let search: SearchResult;
  try {
    search = await searchTuning(gpu, opts);
  } finally {
    gpu.tuning = saved;
  }
  const file = mergeTuning(gpu, previous.file, search);
  let written: string | null = null;
  if (previous.store) {
    try {
      await previous.store.write(JSON.stringify(file, null, 1) + '\n');
      written = previous.store.location;
    } catch (e) {
      log(`tuning cache not written (${previous.store.location}): ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const table = installTuning(gpu, file, previous.store, { ...opts, log });
  return { table, search, file, written };
}

/**
 * The model-load hook (EchoClipModel.load, EchoClip.fromPretrained): 'off' leaves the table
 * defaults; 'cached' installs the cache file + shipped defaults (or keeps the table an earlier
 * load installed); 'auto' also searches what the cache lacks — on real adapters only, where a
 * cache file can be written, once per device — within ~3 s. A lookup the caller installed
 * itself is kept as it is. Never throws.
 */
export async function prepareTuning(gpu: Gpu, mode: TuneMode = 'auto', opts: TuningOptions & { budgetS?: number } = {}): Promise<void> {
  if (mode === 'off' || (gpu.tuning && !(gpu.tuning instanceof TuningTable))) return;
  const log = opts.log ?? defaultLog;
  try {
    const table = gpu.tuning instanceof TuningTable ? gpu.tuning : await loadTuning(gpu, { ...opts, log });
    if (mode !== 'auto' || isSoftwareAdapter(gpu) || !table.store || table.autoSearched) return;
    table.autoSearched = true;
    const missing = missingGroups(gpu, table.file);
    if (!missing.length) return;
    const r = await tuneAndCache(gpu, { ...opts, log, previous: table, budgetS: opts.budgetS ?? AUTO_TUNE_BUDGET_S, only: (f, c) => missing.some((m) => m.family === f && m.shapeClass === c) });
    r.table.autoSearched = true;
    log(`tuned ${r.search.entries.length} kernel choices for ${gpu.adapter.description} in ${r.search.seconds.toFixed(1)} s${r.written ? ` (${r.written})` : ''}${r.search.skipped.length ? `; ${r.search.skipped.length} left for the next load` : ''}`);
  } catch (e) {
    // Tuning only ever picks among correct kernels: a failure costs speed, never the load.
    log(`tuning skipped: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The search as a text table: family, shape class, every variant's time, the winner. */
export function formatTuning(file: TuningFile, search?: SearchResult): string {
  const head = ['family', 'shape class', 'variant timings (ms)', 'winner', 'shapes'];
  const rows = file.entries.map((e) => [e.family, e.shapeClass || '(all)', Object.entries(e.timings_ms).map(([v, t]) => `${v} ${t === null ? 'failed' : t.toFixed(3)}`).join(', '), e.winner ?? 'none', e.shapes.join('; ')]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const e of file.entries) for (const [v, msg] of Object.entries(e.errors ?? {})) out.push(`failed: ${e.family} ${v}: ${msg}`);
  for (const s of search?.skipped ?? file.skipped) out.push(`skipped: ${s.what} (${s.why})`);
  return out.join('\n') + '\n';
}
