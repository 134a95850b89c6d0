// Softmax over the last axis, f32 throughout (max-subtracted, so large scores never overflow),
// optionally causal: for scores [..., T, T] row i keeps columns j <= i and writes exact zeros for
// j > i (softmax(x + mask) with -inf above the diagonal, as open_clip's attention mask does).
// Variants as for LayerNorm: 'row' (one invocation per row; software adapters) and 'workgroup'
// (64 invocations per row with workgroup reductions; real GPUs). On lavapipe, causal
// [1616, 77, 77]: 'row' 1.1 GB of traffic per CPU-second, 'workgroup' 0.08.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { defaultRowVariant, type RowVariant } from './layernorm.js';
import { checkFloatTensor, f32Bits, foldWorkgroups, packParams, wgslEnableF16, wgslFloatType, wgslParamsStruct, wgslStorage, wgslWorkgroupReduce, type FloatDType, wgslFoldedMain } from './wgsl.js';

export interface SoftmaxOptions {
  /** Mask j > i on [..., T, T] scores. */
  causal?: boolean;
  /** Multiply the scores by this first (e.g. 1/sqrt(head_dim)). Default 1. */
  scale?: number;
  out?: Tensor;
  variant?: RowVariant;
}

const PARAMS = wgslParamsStruct('Params', ['rows', 'C', 'T', 'scale']);
const ROW_WG = 64;
const WG = 64;

/** WGSL for one softmax configuration (exported for tests). */
export function softmaxWgsl(variant: RowVariant, dtype: FloatDType, causal: boolean): string {
  const T = wgslFloatType(dtype, false);
  const head =
    wgslEnableF16(dtype === 'f16') +
    PARAMS.code +
    wgslStorage(0, 'X', `array<${T}>`, 'read') +
    wgslStorage(1, 'Y', `array<${T}>`, 'read_write') +
    `@group(0) @binding(2) var<uniform> p: Params;
fn ld(i: u32) -> f32 { return f32(X[i]) * bitcast<f32>(p.scale); }
`;
  // Number of unmasked columns of a row: causal rows of [.., T, T] keep j <= row % T.
  const lim = causal ? '(row % p.T) + 1u' : 'p.C';
  if (variant === 'row') {
    return head + /* wgsl */ `${wgslFoldedMain(ROW_WG)}  let row = gid;
  if (row >= p.rows) { return; }
  let base = row * p.C;
  let lim = ${lim};
  var m = ld(base);
  for (var j = 1u; j < lim; j++) { m = max(m, ld(base + j)); }
  var s = 0.0;
  for (var j = 0u; j < lim; j++) { s += exp(ld(base + j) - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < p.C; j++) { Y[base + j] = ${T}(select(0.0, exp(ld(base + j) - m) * inv, j < lim)); }
}
`;
  }
  return head + wgslWorkgroupReduce(WG) + /* wgsl */ `${wgslFoldedMain(WG)}  let row = wg_id;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.C;
  let lim = ${lim};
  var m = -3.4028234e38;
  for (var j = lid; j < lim; j += ${WG}u) { m = max(m, ld(base + j)); }
  m = wg_max(m, lid);
  var s = 0.0;
  for (var j = lid; j < lim; j += ${WG}u) { s += exp(ld(base + j) - m); }
  let inv = 1.0 / wg_sum(s, lid);
  for (var j = lid; j < p.C; j += ${WG}u) { Y[base + j] = ${T}(select(0.0, exp(ld(base + j) - m) * inv, j < lim)); }
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
  const variant = opts.variant ?? defaultRowVariant(gpu);
  gpu.dispatch({
    kernel: { name: `softmax/${variant}${causal ? '-causal' : ''}`, code: softmaxWgsl(variant, x.dtype as FloatDType, causal), storage: ['read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, out],
    uniforms: packParams(PARAMS.bytes, [rows, C, T, f32Bits(opts.scale ?? 1)]),
    workgroups: foldWorkgroups(variant === 'row' ? Math.ceil(rows / ROW_WG) : rows, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
