// Checks a GEMM call, builds its kernel key, generates (or reuses) the WGSL and records the dispatch.
import { ShapeError } from '../../errors.js';
import type { Gpu } from '../../gpu/device.js';
import type { Tensor } from '../../gpu/tensor.js';
import { cachedWgsl, checkFloatTensor, foldWorkgroups, WGSL_ERF, wgslEnableF16, type FloatDType } from '../wgsl.js';
import { addressing, bindings, epilogue, gemmParams, PARAMS } from './generator.js';
import { checkVariantFits, selectGemmVariant } from './select.js';
import type { GemmDispatcher } from './splitk.js';
import { requireSubgroupMatrixShape } from './subgroup-matrix.js';
import type { ALayout, GemmCall, GemmEpilogue, GemmKey } from './types.js';
import { GEMM_VARIANTS } from './variants.js';


/** WGSL for one GEMM configuration (exported for tests and the benchmark). */
export const gemmWgsl = cachedWgsl((k: GemmKey): { code: string; storage: ('read' | 'read_write')[] } => {
  const f16 = [k.tA, k.tB, k.tC, k.bias ? k.tBias : 'f32', k.scale ? k.tScale : 'f32', k.residual === 'separate' ? k.tR : 'f32'].includes('f16');
  const b = bindings(k);
  const code = (GEMM_VARIANTS[k.variant].directives?.(k) ?? '') + wgslEnableF16(f16) + PARAMS.code + b.code + (k.gelu ? WGSL_ERF : '') + addressing(k) + epilogue(k) + GEMM_VARIANTS[k.variant].body(k);
  return { code, storage: b.storage };
});

function sameBuffer(x: Tensor, y: Tensor): boolean {
  return x.buffer === y.buffer && x.byteOffset === y.byteOffset;
}

/** Checks the epilogue tensors against N and the output. */
function checkEpilogue(gpu: Gpu, name: string, e: GemmEpilogue, N: number, out: Tensor): void {
  for (const [what, t] of [['bias', e.bias], ['scale', e.scale]] as const) {
    if (!t) continue;
    checkFloatTensor(gpu, t, `${name} ${what}`);
    if (t.size !== N) throw new ShapeError(`${name} ${what}`, `must have ${N} values (one per output column), got [${t.shape.join(', ')}]`);
  }
  if (e.residual) {
    checkFloatTensor(gpu, e.residual, `${name} residual`);
    if (e.residual.size !== out.size) throw new ShapeError(`${name} residual`, `must match the output's ${out.size} values [${out.shape.join(', ')}], got [${e.residual.shape.join(', ')}]`);
    if (e.residual.buffer === out.buffer && !sameBuffer(e.residual, out)) {
      throw new ShapeError(`${name} residual`, 'shares a buffer with the output at a different offset', { hint: 'pass the output tensor itself as the residual for an in-place update, or a separate tensor' });
    }
  }
}

/** Records one GEMM dispatch (shapes already checked by the caller). */
export function recordGemm(gpu: Gpu, g: GemmCall): void {
  const { M, N, K, batch, out, epilogue: e } = g;
  checkFloatTensor(gpu, g.a, `${g.name} input`);
  checkFloatTensor(gpu, g.b, `${g.name} weight`);
  checkFloatTensor(gpu, out, `${g.name} out`);
  checkEpilogue(gpu, g.name, e, N, out);
  if (out.buffer === g.a.buffer || out.buffer === g.b.buffer) throw new ShapeError(`${g.name} out`, 'shares a buffer with an input', { hint: 'write to a separate tensor' });
  if (M === 0 || N === 0 || batch === 0) return;
  const variant = g.variant ?? selectGemmVariant(gpu, { M, N, K, batch, dtypes: [g.a.dtype, g.b.dtype], math: g.math ?? 'f32' });
  checkVariantFits(gpu, g, variant);
  const aLayout: ALayout = g.patch ? 'patch' : g.transA ? 'cols' : 'rows';
  const pt = g.patch;
  const vecA =
    aLayout === 'rows' ? K % 4 === 0
    : aLayout === 'patch' ? [pt!.segLen, pt!.sN, pt!.sOy, pt!.sOx, pt!.segOuterStride, pt!.segInnerStride].every((v) => v % 4 === 0)
    : M % 4 === 0 && g.strideA % 4 === 0;
  const residual = !e.residual ? 'none' : sameBuffer(e.residual, out) ? 'inplace' : 'separate';
  const key: GemmKey = {
    variant,
    aLayout,
    transB: g.transB,
    bias: !!e.bias,
    gelu: !!e.gelu,
    scale: !!e.scale,
    residual,
    tA: g.a.dtype as FloatDType,
    tB: g.b.dtype as FloatDType,
    tBias: (e.bias?.dtype ?? 'f32') as FloatDType,
    tScale: (e.scale?.dtype ?? 'f32') as FloatDType,
    tR: (e.residual?.dtype ?? 'f32') as FloatDType,
    tC: out.dtype as FloatDType,
    vecA,
    // transB reads B rows along k in segment-sized steps, so segments must keep vec4 alignment.
    vecB: g.transB ? K % 4 === 0 && (!pt || pt.segLen % 4 === 0) : N % 4 === 0,
    vecC: N % 4 === 0,
    seg4: aLayout === 'patch' && vecA && pt!.segLen === 4,
    kTail: (pt ? pt.segLen : K) % 4 !== 0,
    ...(variant === 'subgroup-matrix' ? { sgm: requireSubgroupMatrixShape(gpu) } : {}),
  };
  if (K === 0 && !e.bias && !e.gelu && residual === 'none') {
    gpu.recorder.clearBuffer(out.buffer, out.byteOffset, Math.ceil(out.byteLength / 4) * 4);
    return;
  }
  const spec = GEMM_VARIANTS[variant];
  if (spec.record) spec.record(gpu, g, key, dispatchGemm);
  else dispatchGemm(gpu, g, key, { out, slices: 1, kChunk: K, label: variant });
}

/**
 * One dispatch of the kernel `key` names: the epilogue tensors the key uses, then `d.out`; the grid
 * covers column blocks × (row blocks · batch · slices), folded over y and z.
 */
const dispatchGemm: GemmDispatcher = (gpu, g, key, d) => {
  const { code, storage } = gemmWgsl(key);
  const spec = GEMM_VARIANTS[key.variant];
  const e = g.epilogue;
  const rowBlocks = Math.ceil(g.M / spec.rowsPerGroup);
  const [gy, gz] = foldWorkgroups(rowBlocks * g.batch * d.slices, gpu.limits.maxComputeWorkgroupsPerDimension);
  const binds = [g.a, g.b, ...(key.bias ? [e.bias!] : []), ...(key.scale ? [e.scale!] : []), ...(key.residual === 'separate' ? [e.residual!] : []), d.out];
  gpu.dispatch({
    kernel: { name: `${g.name}/${d.label}`, code, storage, uniformBytes: PARAMS.bytes },
    bindings: binds,
    uniforms: gemmParams(g, rowBlocks, d.slices, d.kChunk),
    workgroups: [Math.ceil(g.N / spec.colsPerGroup), gy, gz],
  });
};

