// The layers EchoCLIP needs, as plain ONNX (opset 17) subgraphs: the ops an exporter emits for
// open_clip / timm (Gemm or MatMul+Add, LayerNormalization, Erf-based GELU, grouped Conv, causal
// multi-head attention from MatMul/Softmax). Shared by the single-operator graphs and the towers.
import type { OnnxGraphBuilder } from './onnx.js';

/** Row-major [rows, cols] → [cols, rows] (PyTorch Linear weights are [out, in]; MatMul wants [in, out]). */
export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** y = x·Wᵀ + b over the last axis (any rank): MatMul with the pre-transposed weight, then Add. */
export function linearOnnx(g: OnnxGraphBuilder, x: string, name: string, w: Float32Array, outF: number, inF: number, b?: Float32Array): string {
  const wt = g.init(`${name}.weight_t`, transpose2d(w, outF, inF), [inF, outF]);
  const y = g.op('MatMul', [x, wt]);
  return b ? g.op('Add', [y, g.init(`${name}.bias`, b, [outF])]) : y;
}

export function layerNormOnnx(g: OnnxGraphBuilder, x: string, name: string, w: Float32Array, b: Float32Array, eps: number): string {
  const C = w.length;
  return g.op('LayerNormalization', [x, g.init(`${name}.weight`, w, [C]), g.init(`${name}.bias`, b, [C])], { axis: -1, epsilon: { float: eps } });
}

/** Exact GELU as exporters write it at opset < 20: 0.5·x·(1 + erf(x/√2)). */
export function geluOnnx(g: OnnxGraphBuilder, x: string): string {
  const e = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2, 'inv_sqrt2')])]);
  const t = g.op('Add', [e, g.scalar(1, 'one')]);
  return g.op('Mul', [g.op('Mul', [x, t]), g.scalar(0.5, 'half')]);
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, -inf above (PyTorch's attn_mask). */
export function causalMask(T: number): Float32Array {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -Infinity;
  return m;
}

/**
 * Causal self-attention core on packed q|k|v rows [B, T, 3·D] → [B, T, D], the way
 * nn.MultiheadAttention exports: split heads, q·kᵀ·scale + mask, Softmax, ·v, merge heads.
 */
export function attentionCoreOnnx(g: OnnxGraphBuilder, qkv: string, B: number, T: number, D: number, heads: number, mask: string): string {
  const dh = D / heads;
  const r = g.op('Reshape', [qkv, g.ints([B, T, 3, heads, dh], 'shape')]);
  const p = g.op('Transpose', [r], { perm: [2, 0, 3, 1, 4] }); // [3, B, H, T, dh]
  const pick = (i: number) => g.op('Gather', [p, g.init(g.fresh('index'), BigInt64Array.of(BigInt(i)), [])], { axis: 0 });
  const [q, k, v] = [pick(0), pick(1), pick(2)];
  const kt = g.op('Transpose', [k], { perm: [0, 1, 3, 2] });
  const s = g.op('Mul', [g.op('MatMul', [q, kt]), g.scalar(1 / Math.sqrt(dh), 'attn_scale')]);
  const a = g.op('Softmax', [g.op('Add', [s, mask])], { axis: -1 });
  const o = g.op('Transpose', [g.op('MatMul', [a, v])], { perm: [0, 2, 1, 3] }); // [B, T, H, dh]
  return g.op('Reshape', [o, g.ints([B, T, D], 'shape')]);
}

export interface MhaWeights {
  inProjWeight: Float32Array;
  inProjBias: Float32Array;
  outProjWeight: Float32Array;
  outProjBias: Float32Array;
}

/** nn.MultiheadAttention (batch-first, causal) with its in/out projections. */
export function mhaOnnx(g: OnnxGraphBuilder, x: string, name: string, w: MhaWeights, B: number, T: number, D: number, heads: number, mask: string): string {
  const qkv = linearOnnx(g, x, `${name}.in_proj`, w.inProjWeight, 3 * D, D, w.inProjBias);
  const core = attentionCoreOnnx(g, qkv, B, T, D, heads, mask);
  return linearOnnx(g, core, `${name}.out_proj`, w.outProjWeight, D, D, w.outProjBias);
}
