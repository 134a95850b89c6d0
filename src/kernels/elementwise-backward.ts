// Backward of the elementwise ops plus the small elementwise helpers the autograd needs:
// GELU', in-place gradient accumulation, per-column and per-sample scaling. The saved operand A of
// GELU' and mulColumns may be f16 (mixed precision); it is widened on load and the math, the
// incoming gradient and the output stay f32.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { checkF32Tensor, checkFloatTensor, dispatchItems, f32Bits, WGSL_ERF, wgslEnableF16, wgslFoldedMain, wgslParamsStruct, wgslReadArray, wgslStorage, type FloatDType } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['n', 'cols', 'group', 'alpha']);


function sameSize(a: Tensor, b: Tensor, what: string): void {
  if (a.size !== b.size) throw new ShapeError(what, `operands must have the same number of values, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
}

type Op = 'gelu' | 'accumulate' | 'mul-cols' | 'scale-groups';

function wgsl(op: Op, tA: FloatDType = 'f32'): string {
  const body = {
    // d/dx [x Φ(x)] = Φ(x) + x φ(x)
    gelu: 'let x = f32(A[i]); Out[i] = B[i] * (0.5 * (1.0 + erf_f32(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x));',
    accumulate: 'Out[i] = Out[i] + bitcast<f32>(p.alpha) * A[i];',
    'mul-cols': 'Out[i] = f32(A[i]) * B[i % p.cols];',
    'scale-groups': 'Out[i] = A[i] * B[i / p.group];',
  }[op];
  const two = op === 'gelu' || op === 'mul-cols' || op === 'scale-groups';
  return (
    wgslEnableF16(tA === 'f16') +
    PARAMS.code +
    (op === 'gelu' ? WGSL_ERF : '') +
    wgslReadArray(0, 'A', tA) +
    (two ? wgslStorage(1, 'B', 'array<f32>', 'read') : '') +
    wgslStorage(two ? 2 : 1, 'Out', 'array<f32>', 'read_write') +
    `@group(0) @binding(${two ? 3 : 2}) var<uniform> p: Params;\n` +
    wgslFoldedMain(64) +
    `  let i = gid;\n  if (i >= p.n) { return; }\n  ${body}\n}\n`
  );
}

/** dx = dy ⊙ GELU'(x) for the exact (erf) GELU; x may be f16, dy and dx are f32. */
export function geluBackward(x: Tensor, dy: Tensor): Tensor {
  checkFloatTensor(x.gpu, x, 'geluBackward x');
  checkF32Tensor(dy, 'geluBackward dy');
  sameSize(x, dy, 'geluBackward');
  const out = Tensor.empty(x.gpu, x.shape, 'f32', 'gelu.dx');
  dispatchItems(x.gpu, 'gelu-backward', wgsl('gelu', x.dtype as FloatDType), [x, dy, out], 1, PARAMS, [x.size, 1, 1, 0], x.size);
  return out;
}

/** dst += alpha · src, in place (gradient accumulation). */
export function accumulate(dst: Tensor, src: Tensor, alpha = 1): Tensor {
  checkF32Tensor(dst, 'accumulate dst');
  checkF32Tensor(src, 'accumulate src');
  sameSize(dst, src, 'accumulate');
  if (dst.buffer === src.buffer) throw new ShapeError('accumulate', 'source and destination share a buffer');
  dispatchItems(dst.gpu, 'accumulate', wgsl('accumulate'), [src, dst], 1, PARAMS, [dst.size, 1, 1, f32Bits(alpha)], dst.size);
  return dst;
}

/**
 * x ⊙ v broadcast along the last axis: x [..., C], v [C] (layer-scale gamma and its backward).
 * x may be f16 (a saved activation); v and the output are f32.
 */
export function mulColumns(x: Tensor, v: Tensor): Tensor {
  checkFloatTensor(x.gpu, x, 'mulColumns x');
  checkF32Tensor(v, 'mulColumns v');
  const C = x.shape[x.shape.length - 1];
  if (v.size !== C) throw new ShapeError('mulColumns', `vector must have ${C} values (last axis of [${x.shape.join(', ')}]), got [${v.shape.join(', ')}]`);
  const out = Tensor.empty(x.gpu, x.shape, 'f32', 'mulColumns.out');
  dispatchItems(x.gpu, 'mul-columns', wgsl('mul-cols', x.dtype as FloatDType), [x, v, out], 1, PARAMS, [x.size, C, 1, 0], x.size);
  return out;
}

/**
 * x ⊙ f[sample]: x [N, ...] with one factor per leading index (drop path: 0 or 1/keep per sample).
 */
export function scaleSamples(x: Tensor, factors: Tensor): Tensor {
  checkF32Tensor(x, 'scaleSamples x');
  checkF32Tensor(factors, 'scaleSamples factors');
  const N = x.shape[0];
  if (factors.size !== N) throw new ShapeError('scaleSamples', `needs ${N} factors (one per sample of [${x.shape.join(', ')}]), got ${factors.size}`);
  const out = Tensor.empty(x.gpu, x.shape, 'f32', 'scaleSamples.out');
  dispatchItems(x.gpu, 'scale-samples', wgsl('scale-groups'), [x, factors, out], 1, PARAMS, [x.size, 1, x.size / Math.max(N, 1), 0], x.size);
  return out;
}
