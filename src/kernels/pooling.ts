// Pooling and head ops: global average pool of NHWC maps, L2 normalisation of rows (F.normalize),
// and pooling at the argmax token id (open_clip's EOT pooling). All reductions in f32. These run
// once per image/text at the end of a tower. Variants (table families 'pooling' and 'l2norm'):
// - 'invocation' / 'row' (software adapters, and GPUs without subgroups): one invocation per output
//   element or row, no workgroup memory.
// - 'subgroup' (GPUs with subgroups): avg pool — each subgroup takes outputs (n, c) of its
//   workgroup's block in turn and its lanes split the H·W positions (subgroupAdd), so a single
//   image is 64× as many invocations, each with 1-2 loads instead of 49; EOT — a workgroup per
//   text row finds the argmax with two workgroup max reductions, then copies the row; L2 — a
//   workgroup per row (wg_sum; the same WGSL body as 'row').
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { chooseVariant } from './variants.js';
import { checkFloatTensor, checkSubgroups, f32Bits, foldWorkgroups, packParams, wgslEnableF16, wgslEnableSubgroups, wgslFloatType, wgslParamsStruct, wgslRowLoop, wgslStorage, wgslSubgroupReduce, type FloatDType, wgslFoldedMain } from './wgsl.js';

export type PoolingVariant = 'invocation' | 'subgroup';
export type L2NormVariant = 'row' | 'subgroup';
type PoolKind = 'avgpool' | 'l2norm' | 'eot';

const PARAMS = wgslParamsStruct('Params', ['count', 'inner', 'C', 'eps']);
const WG = 64;
/** Outputs per workgroup of the subgroup avg pool (consecutive channels: neighbouring loads). */
const AVG_BLOCK = 64;

/** The avg-pool / EOT-pool variant on this device. */
export function defaultPoolingVariant(gpu: Gpu): PoolingVariant {
  return chooseVariant<PoolingVariant>(gpu, 'pooling');
}

/** The EOT (argmax) pool variant on this device. */
export function defaultEotPoolVariant(gpu: Gpu): PoolingVariant {
  return chooseVariant<PoolingVariant>(gpu, 'eot-pool');
}

/** The L2-normalise variant (forward and backward) on this device. */
export function defaultL2NormVariant(gpu: Gpu): L2NormVariant {
  return chooseVariant<L2NormVariant>(gpu, 'l2norm');
}

function kernelHead(inT: FloatDType, outT: FloatDType, subgroups: boolean, extra = ''): string {
  return (
    wgslEnableF16(inT === 'f16' || outT === 'f16') +
    wgslEnableSubgroups(subgroups) +
    PARAMS.code +
    wgslStorage(0, 'X', `array<${wgslFloatType(inT, false)}>`, 'read') +
    extra +
    `@group(0) @binding(${extra ? 2 : 1}) var<storage, read_write> Y: array<${wgslFloatType(outT, false)}>;\n` +
    `@group(0) @binding(${extra ? 3 : 2}) var<uniform> p: Params;\n`
  );
}

const MAIN = (body: string) => /* wgsl */ `${wgslFoldedMain(WG)}  let o = gid;
  if (o >= p.count) { return; }
${body}
}
`;

/** WGSL of the pooling kernels (exported for tests). */
export function poolingWgsl(kind: PoolKind, inT: FloatDType, outT: FloatDType, variant: PoolingVariant | L2NormVariant = kind === 'l2norm' ? 'row' : 'invocation'): string {
  const OT = wgslFloatType(outT, false);
  const sub = variant === 'subgroup';
  if (kind === 'l2norm') {
    // row = o; x / max(‖x‖₂, eps) exactly as F.normalize; one body for both variants.
    const r = wgslRowLoop(sub ? 'subgroup' : 'row', WG);
    return kernelHead(inT, outT, sub) + r.code + /* wgsl */ `${wgslFoldedMain(WG)}  let o = ${r.row};
  if (o >= p.count) { return; } // uniform per workgroup in the subgroup variant
  ${r.init}
  let base = o * p.C;
  var s = 0.0;
  ${r.loop('i', 'p.C')} { let v = f32(X[base + i]); s += v * v; }
  let inv = 1.0 / max(sqrt(${r.sum('s')}), bitcast<f32>(p.eps));
  ${r.loop('i', 'p.C')} { Y[base + i] = ${OT}(f32(X[base + i]) * inv); }
}
`;
  }
  if (kind === 'avgpool') {
    // o = n·C + c; element (n, s, c) of [N, H·W, C] at (n·inner + s)·C + c: neighbours read neighbours.
    if (!sub) {
      return kernelHead(inT, outT, false) + MAIN(`
  let n = o / p.C;
  let c = o % p.C;
  var s = 0.0;
  for (var i = 0u; i < p.inner; i++) { s += f32(X[(n * p.inner + i) * p.C + c]); }
  Y[o] = ${OT}(s / f32(p.inner));`);
    }
    // The loop over this subgroup's outputs is uniform per subgroup (sg_id, sg_count are), which is
    // all subgroupAdd needs; WGSL's analysis only proves workgroup uniformity, hence the diagnostic.
    return 'diagnostic(off, subgroup_uniformity);\n' + kernelHead(inT, outT, true) + wgslSubgroupReduce(WG) + /* wgsl */ `${wgslFoldedMain(WG)}  let o0 = wg_id * ${AVG_BLOCK}u;
  if (o0 >= p.count) { return; } // uniform per workgroup
  sg_init(lid);
  for (var r = sg_id; r < ${AVG_BLOCK}u; r += sg_count) {
    let o = o0 + r;
    if (o >= p.count) { break; }
    let n = o / p.C;
    let c = o % p.C;
    var s = 0.0;
    for (var i = sg_lane; i < p.inner; i += sg_lanes) { s += f32(X[(n * p.inner + i) * p.C + c]); }
    s = subgroupAdd(s);
    if (sg_lane == 0u) { Y[o] = ${OT}(s / f32(p.inner)); }
  }
}
`;
  }
  // eot: pooled at the FIRST position of the row's largest token id (torch.argmax).
  const head = kernelHead(inT, outT, sub, wgslStorage(1, 'Tok', 'array<i32>', 'read'));
  if (!sub) {
    // o = b·C + d: every output element finds its row's argmax (T is 77: cheaper than a second pass).
    return head + MAIN(`
  let b = o / p.C;
  let d = o % p.C;
  var best = 0u;
  for (var t = 1u; t < p.inner; t++) { if (Tok[b * p.inner + t] > Tok[b * p.inner + best]) { best = t; } }
  Y[o] = ${OT}(X[(b * p.inner + best) * p.C + d]);`);
  }
  // A workgroup per row b: each invocation's (largest id, its first position), the row's largest
  // id, then the smallest position holding it (a max of negated positions).
  return head + wgslSubgroupReduce(WG, 'f32', ['i32']) + /* wgsl */ `${wgslFoldedMain(WG)}  let b = wg_id;
  if (b >= p.count) { return; } // uniform per workgroup
  sg_init(lid);
  var best = -2147483647 - 1;
  var pos = 0u;
  for (var t = lid; t < p.inner; t += ${WG}u) {
    let id = Tok[b * p.inner + t];
    if (id > best) { best = id; pos = t; }
  }
  let top = wg_max_i32(best, lid);
  let first = u32(-wg_max_i32(select(-2147483647, -i32(pos), best == top), lid));
  for (var d = lid; d < p.C; d += ${WG}u) { Y[b * p.C + d] = ${OT}(X[(b * p.inner + first) * p.C + d]); }
}
`;
}

function dispatchPool(kind: PoolKind, variant: PoolingVariant | L2NormVariant, bindings: Tensor[], out: Tensor, count: number, inner: number, C: number, eps = 0): Tensor {
  const gpu = out.gpu;
  checkSubgroups(gpu, variant, kind);
  if (count === 0) return out;
  const x = bindings[0];
  // Workgroups: per WG outputs/rows ('invocation', 'row'), per AVG_BLOCK outputs (subgroup avg
  // pool), per row (subgroup L2 and EOT; `count` is then rows).
  const groups = variant !== 'subgroup' ? Math.ceil(count / WG) : kind === 'avgpool' ? Math.ceil(count / AVG_BLOCK) : count;
  gpu.dispatch({
    kernel: { name: `pooling/${kind}/${variant}`, code: poolingWgsl(kind, x.dtype as FloatDType, out.dtype as FloatDType, variant), storage: [...bindings.map(() => 'read' as const), 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [...bindings, out],
    uniforms: packParams(PARAMS.bytes, [count, inner, C, f32Bits(eps)]),
    workgroups: foldWorkgroups(groups, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

function outFor(x: Tensor, shape: number[], dtype: FloatDType, out: Tensor | undefined, what: string): Tensor {
  const o = out ?? Tensor.empty(x.gpu, shape, dtype, `${what}.out`);
  checkFloatTensor(x.gpu, o, `${what} output`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (o.size !== n || o.dtype !== dtype) throw new ShapeError(`${what} out`, `must be ${dtype} [${shape.join(', ')}], got ${o.dtype} [${o.shape.join(', ')}]`);
  return o;
}

/** Global average pool over H·W of channels-last (NHWC) x [N, H, W, C] → [N, C] (f32 sums). */
export function globalAvgPool(x: Tensor, opts: { dtype?: FloatDType; out?: Tensor; variant?: PoolingVariant } = {}): Tensor {
  checkFloatTensor(x.gpu, x, 'globalAvgPool input');
  if (x.shape.length !== 4) throw new ShapeError('globalAvgPool', `expects NHWC [N, H, W, C], got [${x.shape.join(', ')}]`);
  const [N, H, W, C] = x.shape;
  if (H * W === 0) throw new ShapeError('globalAvgPool', `cannot average an empty ${H}×${W} map`);
  const out = outFor(x, [N, C], opts.dtype ?? (x.dtype as FloatDType), opts.out, 'globalAvgPool');
  return dispatchPool('avgpool', opts.variant ?? defaultPoolingVariant(x.gpu), [x], out, N * C, H * W, C);
}

/** Rows of x [..., D] divided by max(‖row‖₂, eps) — F.normalize(x, dim=-1), eps 1e-12. */
export function l2Normalize(x: Tensor, opts: { eps?: number; out?: Tensor; variant?: L2NormVariant } = {}): Tensor {
  checkFloatTensor(x.gpu, x, 'l2Normalize input');
  if (x.shape.length < 1) throw new ShapeError('l2Normalize', 'needs at least 1 dimension, got a scalar');
  const D = x.shape[x.shape.length - 1];
  const out = outFor(x, [...x.shape], x.dtype as FloatDType, opts.out, 'l2Normalize');
  return dispatchPool('l2norm', opts.variant ?? defaultL2NormVariant(x.gpu), [x], out, D === 0 ? 0 : x.size / D, 1, D, opts.eps ?? 1e-12);
}

/**
 * x [B, T, D] pooled at each row's argmax token id: tokens i32 [B, T], the first position of the
 * largest id (the EOT token, which has the highest id in both EchoCLIP vocabularies) → [B, D].
 */
export function argmaxPool(x: Tensor, tokens: Tensor, opts: { out?: Tensor; variant?: PoolingVariant } = {}): Tensor {
  checkFloatTensor(x.gpu, x, 'argmaxPool input');
  if (x.shape.length !== 3) throw new ShapeError('argmaxPool', `expects x [B, T, D], got [${x.shape.join(', ')}]`);
  const [B, T, D] = x.shape;
  if (tokens.dtype !== 'i32' || tokens.shape.length !== 2 || tokens.shape[0] !== B || tokens.shape[1] !== T) {
    throw new ShapeError('argmaxPool tokens', `must be i32 [${B}, ${T}] to match x, got ${tokens.dtype} [${tokens.shape.join(', ')}]`);
  }
  if (T === 0) throw new ShapeError('argmaxPool', 'cannot pool a sequence of length 0');
  const out = outFor(x, [B, D], x.dtype as FloatDType, opts.out, 'argmaxPool');
  const variant = opts.variant ?? defaultEotPoolVariant(x.gpu);
  // The subgroup variant runs a workgroup per row; the other an invocation per output element.
  return dispatchPool('eot', variant, [x, tokens], out, variant === 'subgroup' ? B : B * D, T, D);
}
