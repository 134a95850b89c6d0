// Softmax over the last axis, f32 throughout (max-subtracted, so large scores never overflow),
// optionally causal: for scores [..., T, T] row i keeps columns j <= i and writes exact zeros for
// j > i (softmax(x + mask) with -inf above the diagonal, as open_clip's attention mask does).
// Variants as for LayerNorm: 'row' (one invocation per row; software adapters) and 'workgroup'
// (64 invocations per row with workgroup reductions; real GPUs), and 'subgroup' (the same body
// with subgroupMax/Add reductions; real GPUs with subgroups). On lavapipe, causal
// [1616, 77, 77]: 'row' 1.1 GB of traffic per CPU-second, 'workgroup' 0.08.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { defaultRowVariant, type RowVariant } from './layernorm.js';
import { checkFloatTensor, checkSubgroups, f32Bits, foldWorkgroups, packParams, wgslEnableF16, wgslEnableSubgroups, wgslFloatType, wgslParamsStruct, wgslRowLoop, wgslStorage, type FloatDType, wgslFoldedMain } from './wgsl.js';

export interface SoftmaxOptions {
  /** Mask j > i on [..., T, T] scores. */
  causal?: boolean;
  /** Multiply the scores by this first (e.g. 1/sqrt(head_dim)). Default 1. */
  scale?: number;
  out?: Tensor;
  variant?: RowVariant;
}

const PARAMS = wgslParamsStruct('Params', ['rows', 'C', 'T', 'scale']);
/** Rows per workgroup in 'row', invocations per row in the workgroup variants. */
const WG = 64;

/** WGSL for one softmax configuration (exported for tests). */
export function softmaxWgsl(variant: RowVariant, dtype: FloatDType, causal: boolean): string {
  const T = wgslFloatType(dtype, false);
  const head =
    wgslEnableF16(dtype === 'f16') +
    wgslEnableSubgroups(variant === 'subgroup') +
    PARAMS.code +
    wgslStorage(0, 'X', `array<${T}>`, 'read') +
    wgslStorage(1, 'Y', `array<${T}>`, 'read_write') +
    `@group(0) @binding(2) var<uniform> p: Params;
fn ld(i: u32) -> f32 { return f32(X[i]) * bitcast<f32>(p.scale); }
`;
  // Number of unmasked columns of a row: causal rows of [.., T, T] keep j <= row % T.
  const lim = causal ? '(row % p.T) + 1u' : 'p.C';
  // One body for every row variant: 'row' loops serially, the others split the row over a workgroup.
  const r = wgslRowLoop(variant, WG);
  return head + r.code + /* wgsl */ `${wgslFoldedMain(WG)}  let row = ${r.row};
  if (row >= p.rows) { return; } // uniform per workgroup in the workgroup variants
  ${r.init}
  let base = row * p.C;
  let lim = ${lim};
  var m = -3.4028234e38;
  ${r.loop('j', 'lim')} { m = max(m, ld(base + j)); }
  m = ${r.max('m')};
  var s = 0.0;
  ${r.loop('j', 'lim')} { s += exp(ld(base + j) - m); }
  let inv = 1.0 / ${r.sum('s')};
  ${r.loop('j', 'p.C')} { Y[base + j] = ${T}(select(0.0, exp(ld(base + j) - m) * inv, j < lim)); }
}
`;
}

/** Softmax over the last axis of x (f32, or f16 storage with f32 math). */
export function softmax(x: Tensor, opts: SoftmaxOptions = {}): Tensor {
  const gpu = x.gpu;
  checkFloatTensor(gpu, x, 'softmax input');
  if (x.shape.length < 1) throw new ShapeError('softmax', 'needs at least 1 dimension, got a scalar');
  const C = x.shape[x.shape.length - 1];
  const causal = !!opts.causal;
  const T = causal ? x.shape[x.shape.length - 2] : 1;
  if (causal && (x.shape.length < 2 || T !== C)) throw new ShapeError('causal softmax', `expects square scores [..., T, T], got [${x.shape.join(', ')}]`);
  const out = opts.out ?? Tensor.empty(gpu, x.shape, x.dtype, 'softmax.out');
  if (out.dtype !== x.dtype || out.size !== x.size) throw new ShapeError('softmax out', `must be ${x.dtype} with ${x.size} values, got ${out.dtype} [${out.shape.join(', ')}]`);
  const rows = C === 0 ? 0 : x.size / C;
  if (rows === 0) return out;
  const variant = opts.variant ?? defaultRowVariant(gpu, 'softmax');
  checkSubgroups(gpu, variant, 'softmax');
  gpu.dispatch({
    kernel: { name: `softmax/${variant}${causal ? '-causal' : ''}`, code: softmaxWgsl(variant, x.dtype as FloatDType, causal), storage: ['read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, out],
    uniforms: packParams(PARAMS.bytes, [rows, C, T, f32Bits(opts.scale ?? 1)]),
    workgroups: foldWorkgroups(variant === 'row' ? Math.ceil(rows / WG) : rows, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
