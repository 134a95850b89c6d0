// The attention core as two batched GEMMs around a softmax: S = Q·Kᵀ per (batch, head), then
// P = softmax(scale·S) with the causal mask, then O = P·V. Same result as the fused core
// (attention.ts: attentionCore) but through matmul(), so any GEMM variant runs both products —
// in particular 'subgroup-matrix' (the tensor cores), which the fused online-softmax kernel
// cannot use. The price: the B·H·T² f32 scores go through memory (the fused core never writes
// them) and two permutes regroup the packed projections by head, because the GEMM core reads B
// and writes C as dense [batch, rows, cols] matrices.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { matmul, type MatmulVariant } from './gemm/index.js';
import { softmax } from './softmax.js';
import { checkFloatTensor, foldWorkgroups, packParams, wgslEnableF16, wgslFloatType, wgslFoldedMain, wgslParamsStruct, wgslStorage, type FloatDType } from './wgsl.js';

export interface AttentionGemmOptions {
  heads: number;
  /** Mask keys after the query (j > i), as the text tower does. Default true. */
  causal?: boolean;
  /** Score scale (default 1/√head_dim, as PyTorch scales q). */
  scale?: number;
  /** The GEMM variant of both products (default: the device's matmul default). */
  variant?: MatmulVariant;
  out?: Tensor;
  /** dtype of a newly allocated output (default: qkv's dtype). */
  dtype?: FloatDType;
}

const PARAMS = wgslParamsStruct('Params', ['count', 'T', 'H', 'dh']);
const WG = 64;

/**
 * WGSL of the head permutes, one element per invocation. 'split': packed qkv [B, T, 3, H, dh] →
 * Q, K, V each [B, H, T, dh]; 'merge': O [B, H, T, dh] → [B, T, H, dh] (heads concatenated).
 * Invocations walk the packed side, so reads (split) or writes (merge) are contiguous.
 */
export function headPermuteWgsl(dir: 'split' | 'merge', dtype: FloatDType): { code: string; storage: ('read' | 'read_write')[] } {
  const S = wgslFloatType(dtype, false);
  const outs = dir === 'split' ? ['Q', 'K', 'V'] : ['Y'];
  const code =
    wgslEnableF16(dtype === 'f16') +
    PARAMS.code +
    wgslStorage(0, 'X', `array<${S}>`, 'read') +
    outs.map((o, i) => wgslStorage(i + 1, o, `array<${S}>`, 'read_write')).join('') +
    `@group(0) @binding(${outs.length + 1}) var<uniform> p: Params;\n` +
    wgslFoldedMain(WG) +
    /* wgsl */ `  if (gid >= p.count) { return; }
  // gid = ${dir === 'split' ? '(((b * T + t) * 3 + part)' : '((b * T + t)'} * H + h) * dh + d on the packed side.
  let d = gid % p.dh;
  var r = gid / p.dh;
  let h = r % p.H;
  r /= p.H;
  ${dir === 'split' ? 'let part = r % 3u;\n  r /= 3u;' : ''}
  let t = r % p.T;
  let b = r / p.T;
  let hm = ((b * p.H + h) * p.T + t) * p.dh + d; // [B, H, T, dh] side
  ${dir === 'split'
    ? `let v = X[gid];
  if (part == 0u) { Q[hm] = v; } else if (part == 1u) { K[hm] = v; } else { V[hm] = v; }`
    : 'Y[gid] = X[hm];'}
}
`;
  return { code, storage: ['read', ...outs.map(() => 'read_write' as const)] };
}

function permute(src: Tensor, dsts: Tensor[], dir: 'split' | 'merge', count: number, T: number, H: number, dh: number): void {
  const gpu = src.gpu;
  const { code, storage } = headPermuteWgsl(dir, src.dtype as FloatDType);
  gpu.dispatch({
    kernel: { name: `attention-gemm/${dir}`, code, storage, uniformBytes: PARAMS.bytes },
    bindings: [src, ...dsts],
    uniforms: packParams(PARAMS.bytes, [count, T, H, dh]),
    workgroups: foldWorkgroups(Math.ceil(count / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/**
 * The attention core on packed projections qkv [B, T, 3D] (q | k | v along the last axis, each
 * [heads × head_dim]; f32 or f16 storage) → [B, T, D] with the heads concatenated, as
 * attentionCore computes it, through matmul(…, { variant }) + softmax. Scores and probabilities
 * are f32 whatever qkv's dtype.
 */
export function attentionCoreGemm(qkv: Tensor, opts: AttentionGemmOptions): Tensor {
  const gpu = qkv.gpu;
  checkFloatTensor(gpu, qkv, 'attention qkv');
  if (qkv.shape.length !== 3 || qkv.shape[2] % 3 !== 0) throw new ShapeError('attention', `expects packed qkv [B, T, 3·D], got [${qkv.shape.join(', ')}]`);
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const H = opts.heads;
  if (!Number.isInteger(H) || H < 1 || D % H !== 0) throw new ShapeError('attention', `width ${D} must split into ${H} heads of equal size`);
  const dh = D / H;
  const dtype = qkv.dtype as FloatDType;
  const out = opts.out ?? Tensor.empty(gpu, [B, T, D], opts.dtype ?? dtype, 'attention.out');
  checkFloatTensor(gpu, out, 'attention out');
  if (out.size !== B * T * D) throw new ShapeError('attention out', `must hold [${B}, ${T}, ${D}], has [${out.shape.join(', ')}]`);
  if (B * T * D === 0) return out;
  const BH = B * H;
  const [q, k, v] = ['q', 'k', 'v'].map((n) => Tensor.empty(gpu, [BH, T, dh], dtype, `attention.${n}`));
  permute(qkv, [q, k, v], 'split', B * T * D3, T, H, dh);
  const s = matmul(q, k, { transB: true, variant: opts.variant, dtype: 'f32' });
  q.release();
  k.release();
  const pr = softmax(s, { causal: opts.causal ?? true, scale: opts.scale ?? 1 / Math.sqrt(dh) });
  s.release();
  const o = matmul(pr, v, { variant: opts.variant, dtype: out.dtype as FloatDType });
  pr.release();
  v.release();
  permute(o, [out], 'merge', B * T * D, T, H, dh);
  o.release();
  return out;
}
