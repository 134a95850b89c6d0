// Pooling and head ops: global average pool of NHWC maps, L2 normalisation of rows (F.normalize),
// and pooling at the argmax token id (open_clip's EOT pooling). All reductions in f32. These run
// once per image/text at the end of a tower, so they stay simple: one invocation per output
// element or row, no workgroup memory (the same code suits software and real adapters).
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { checkFloatTensor, f32Bits, foldWorkgroups, packParams, wgslEnableF16, wgslFloatType, wgslParamsStruct, wgslStorage, type FloatDType, wgslFoldedMain } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['count', 'inner', 'C', 'eps']);
const WG = 64;

function kernelHead(inT: FloatDType, outT: FloatDType, extra = ''): string {
  return (
    wgslEnableF16(inT === 'f16' || outT === 'f16') +
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
export function poolingWgsl(kind: 'avgpool' | 'l2norm' | 'eot', inT: FloatDType, outT: FloatDType): string {
  const OT = wgslFloatType(outT, false);
  if (kind === 'avgpool') {
    // o = n·C + c; element (n, s, c) of [N, H·W, C] at (n·inner + s)·C + c: neighbours read neighbours.
    return kernelHead(inT, outT) + MAIN(`
  let n = o / p.C;
  let c = o % p.C;
  var s = 0.0;
  for (var i = 0u; i < p.inner; i++) { s += f32(X[(n * p.inner + i) * p.C + c]); }
  Y[o] = ${OT}(s / f32(p.inner));`);
  }
  if (kind === 'l2norm') {
    // o = row; x / max(‖x‖₂, eps) exactly as F.normalize.
    return kernelHead(inT, outT) + MAIN(`
  let base = o * p.C;
  var s = 0.0;
  for (var i = 0u; i < p.C; i++) { let v = f32(X[base + i]); s += v * v; }
  let inv = 1.0 / max(sqrt(s), bitcast<f32>(p.eps));
  for (var i = 0u; i < p.C; i++) { Y[base + i] = ${OT}(f32(X[base + i]) * inv); }`);
  }
  // eot: o = b·C + d; pooled at the FIRST position of the row's largest token id (torch.argmax).
  return kernelHead(inT, outT, wgslStorage(1, 'Tok', 'array<i32>', 'read')) + MAIN(`
  let b = o / p.C;
  let d = o % p.C;
  var best = 0u;
  for (var t = 1u; t < p.inner; t++) { if (Tok[b * p.inner + t] > Tok[b * p.inner + best]) { best = t; } }
  Y[o] = ${OT}(X[(b * p.inner + best) * p.C + d]);`);
}

function dispatchPool(kind: 'avgpool' | 'l2norm' | 'eot', bindings: Tensor[], out: Tensor, count: number, inner: number, C: number, eps = 0): Tensor {
  const gpu = out.gpu;
  if (count === 0) return out;
  const x = bindings[0];
  gpu.dispatch({
    kernel: { name: `pooling/${kind}`, code: poolingWgsl(kind, x.dtype as FloatDType, out.dtype as FloatDType), storage: [...bindings.map(() => 'read' as const), 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [...bindings, out],
    uniforms: packParams(PARAMS.bytes, [count, inner, C, f32Bits(eps)]),
    workgroups: foldWorkgroups(Math.ceil(count / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
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
export function globalAvgPool(x: Tensor, opts: { dtype?: FloatDType; out?: Tensor } = {}): Tensor {
  checkFloatTensor(x.gpu, x, 'globalAvgPool input');
  if (x.shape.length !== 4) throw new ShapeError('globalAvgPool', `expects NHWC [N, H, W, C], got [${x.shape.join(', ')}]`);
  const [N, H, W, C] = x.shape;
  if (H * W === 0) throw new ShapeError('globalAvgPool', `cannot average an empty ${H}×${W} map`);
  const out = outFor(x, [N, C], opts.dtype ?? (x.dtype as FloatDType), opts.out, 'globalAvgPool');
  return dispatchPool('avgpool', [x], out, N * C, H * W, C);
}

/** Rows of x [..., D] divided by max(‖row‖₂, eps) — F.normalize(x, dim=-1), eps 1e-12. */
export function l2Normalize(x: Tensor, opts: { eps?: number; out?: Tensor } = {}): Tensor {
  checkFloatTensor(x.gpu, x, 'l2Normalize input');
  if (x.shape.length < 1) throw new ShapeError('l2Normalize', 'needs at least 1 dimension, got a scalar');
  const D = x.shape[x.shape.length - 1];
  const out = outFor(x, [...x.shape], x.dtype as FloatDType, opts.out, 'l2Normalize');
  return dispatchPool('l2norm', [x], out, D === 0 ? 0 : x.size / D, 1, D, opts.eps ?? 1e-12);
}

/**
 * x [B, T, D] pooled at each row's argmax token id: tokens i32 [B, T], the first position of the
 * largest id (the EOT token, which has the highest id in both EchoCLIP vocabularies) → [B, D].
 */
export function argmaxPool(x: Tensor, tokens: Tensor, opts: { out?: Tensor } = {}): Tensor {
  checkFloatTensor(x.gpu, x, 'argmaxPool input');
  if (x.shape.length !== 3) throw new ShapeError('argmaxPool', `expects x [B, T, D], got [${x.shape.join(', ')}]`);
  const [B, T, D] = x.shape;
  if (tokens.dtype !== 'i32' || tokens.shape.length !== 2 || tokens.shape[0] !== B || tokens.shape[1] !== T) {
    throw new ShapeError('argmaxPool tokens', `must be i32 [${B}, ${T}] to match x, got ${tokens.dtype} [${tokens.shape.join(', ')}]`);
  }
  if (T === 0) throw new ShapeError('argmaxPool', 'cannot pool a sequence of length 0');
  const out = outFor(x, [B, D], x.dtype as FloatDType, opts.out, 'argmaxPool');
  return dispatchPool('eot', [x, tokens], out, B * D, T, D);
}
