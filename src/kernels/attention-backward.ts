// Backward of the fused attention core (attentionCore: packed qkv [B, T, 3D] → [B, T, D]), in the
// FlashAttention-2 style: the T×T probabilities are never stored. Kernel 1 (one invocation per
// query row) recomputes the row's log-sum-exp, D_i = dO_i·O_i and dQ_i; kernel 2 (one invocation
// per key row) recomputes P_ij = exp(s_ij − lse_i) from those statistics and sums dK_j and dV_j
// over the queries that see key j. Every sum has a fixed order and there are no atomics, so the
// result is deterministic. The saved qkv and out may each be f16 (mixed precision): they are
// widened on load, and dOut, the statistics and dqkv stay f32.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { checkFloatTensor, dispatchItems, f32Bits, wgslEnableF16, wgslFoldedMain, wgslParamsStruct, wgslReadArray, wgslStorage, type FloatDType } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['B', 'T', 'H', 'D', 'scale', 'causal']);

function common(dh: number): string {
  return (
    PARAMS.code +
    `const DH = ${dh}u;\n` +
    /* wgsl */ `
fn qkv(i: u32) -> f32 { return f32(Qkv[i]); }
fn qkvBase(b: u32, t: u32, part: u32, h: u32) -> u32 { return (b * p.T + t) * 3u * p.D + part * p.D + h * DH; }
fn rowBase(b: u32, t: u32, h: u32) -> u32 { return (b * p.T + t) * p.D + h * DH; }
fn dotQK(b: u32, i: u32, j: u32, h: u32) -> f32 {
  let qi = qkvBase(b, i, 0u, h);
  let kj = qkvBase(b, j, 1u, h);
  var s = 0.0;
  for (var d = 0u; d < DH; d++) { s += qkv(qi + d) * qkv(kj + d); }
  return s * bitcast<f32>(p.scale);
}
fn dotDoV(b: u32, i: u32, j: u32, h: u32) -> f32 {
  let oi = rowBase(b, i, h);
  let vj = qkvBase(b, j, 2u, h);
  var s = 0.0;
  for (var d = 0u; d < DH; d++) { s += Dout[oi + d] * qkv(vj + d); }
  return s;
}
`
  );
}

function queryWgsl(dh: number, tQkv: FloatDType, tOut: FloatDType): string {
  return (
    wgslEnableF16(tQkv === 'f16' || tOut === 'f16') +
    wgslReadArray(0, 'Qkv', tQkv) + wgslReadArray(1, 'Out', tOut) + wgslStorage(2, 'Dout', 'array<f32>', 'read') +
    wgslStorage(3, 'Dqkv', 'array<f32>', 'read_write') + wgslStorage(4, 'Stats', 'array<vec2f>', 'read_write') +
    '@group(0) @binding(5) var<uniform> p: Params;\n' + common(dh) + wgslFoldedMain(64) +
    /* wgsl */ `
  if (gid >= p.B * p.H * p.T) { return; }
  let i = gid % p.T;
  let h = (gid / p.T) % p.H;
  let b = gid / (p.T * p.H);
  let jEnd = select(p.T, i + 1u, p.causal != 0u);
  var m = -3.0e38;
  var l = 0.0;
  for (var j = 0u; j < jEnd; j++) {
    let s = dotQK(b, i, j, h);
    if (s > m) { l = l * exp(m - s) + 1.0; m = s; } else { l += exp(s - m); }
  }
  let lse = m + log(l);
  let oi = rowBase(b, i, h);
  var di = 0.0;
  for (var d = 0u; d < DH; d++) { di += Dout[oi + d] * f32(Out[oi + d]); }
  var acc: array<f32, DH>;
  for (var j = 0u; j < jEnd; j++) {
    let pij = exp(dotQK(b, i, j, h) - lse);
    let ds = pij * (dotDoV(b, i, j, h) - di);
    let kj = qkvBase(b, j, 1u, h);
    for (var d = 0u; d < DH; d++) { acc[d] += ds * qkv(kj + d); }
  }
  let qi = qkvBase(b, i, 0u, h);
  for (var d = 0u; d < DH; d++) { Dqkv[qi + d] = acc[d] * bitcast<f32>(p.scale); }
  Stats[gid] = vec2f(lse, di);
}
`
  );
}

function keyWgsl(dh: number, tQkv: FloatDType): string {
  return (
    wgslEnableF16(tQkv === 'f16') +
    wgslReadArray(0, 'Qkv', tQkv) + wgslStorage(1, 'Dout', 'array<f32>', 'read') + wgslStorage(2, 'Stats', 'array<vec2f>', 'read') +
    wgslStorage(3, 'Dqkv', 'array<f32>', 'read_write') +
    '@group(0) @binding(4) var<uniform> p: Params;\n' + common(dh) + wgslFoldedMain(64) +
    /* wgsl */ `
  if (gid >= p.B * p.H * p.T) { return; }
  let j = gid % p.T;
  let h = (gid / p.T) % p.H;
  let b = gid / (p.T * p.H);
  let iStart = select(0u, j, p.causal != 0u);
  var dk: array<f32, DH>;
  var dv: array<f32, DH>;
  for (var i = iStart; i < p.T; i++) {
    let st = Stats[(b * p.H + h) * p.T + i];
    let pij = exp(dotQK(b, i, j, h) - st.x);
    let ds = pij * (dotDoV(b, i, j, h) - st.y);
    let qi = qkvBase(b, i, 0u, h);
    let oi = rowBase(b, i, h);
    for (var d = 0u; d < DH; d++) {
      dk[d] += ds * qkv(qi + d);
      dv[d] += pij * Dout[oi + d];
    }
  }
  let kj = qkvBase(b, j, 1u, h);
  let vj = qkvBase(b, j, 2u, h);
  for (var d = 0u; d < DH; d++) {
    Dqkv[kj + d] = dk[d] * bitcast<f32>(p.scale);
    Dqkv[vj + d] = dv[d];
  }
}
`
  );
}

/**
 * f32 dqkv [B, T, 3D] of out = attentionCore(qkv, {heads, causal}) given the forward output `out`
 * [B, T, D] and its f32 gradient dOut. qkv and out may be f16.
 */
export function attentionCoreBackward(qkv: Tensor, out: Tensor, dOut: Tensor, opts: { heads: number; causal?: boolean }): Tensor {
  const gpu = qkv.gpu;
  checkFloatTensor(gpu, qkv, 'attentionCoreBackward qkv');
  checkFloatTensor(gpu, out, 'attentionCoreBackward out');
  if (qkv.shape.length !== 3 || qkv.shape[2] % 3 !== 0) throw new ShapeError('attentionCoreBackward', `expects packed qkv [B, T, 3·D], got [${qkv.shape.join(', ')}]`);
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const H = opts.heads;
  if (!Number.isInteger(H) || H < 1 || D % H !== 0) throw new ShapeError('attentionCoreBackward', `width ${D} must split into ${H} heads of equal size`);
  if (out.size !== B * T * D) throw new ShapeError('attentionCoreBackward out', `must be [${B}, ${T}, ${D}], got [${out.shape.join(', ')}]`);
  if (dOut.dtype !== 'f32' || dOut.size !== B * T * D) throw new ShapeError('attentionCoreBackward dOut', `must be f32 [${B}, ${T}, ${D}], got ${dOut.dtype} [${dOut.shape.join(', ')}]`);
  const dh = D / H;
  const values = [B, T, H, D, f32Bits(1 / Math.sqrt(dh)), opts.causal ?? true ? 1 : 0];
  const dqkv = Tensor.empty(gpu, qkv.shape, 'f32', 'attention.dqkv');
  const stats = Tensor.empty(gpu, [B * H * T, 2], 'f32', 'attention.stats');
  const rows = B * H * T;
  dispatchItems(gpu, 'attention-backward-q', queryWgsl(dh, qkv.dtype as FloatDType, out.dtype as FloatDType), [qkv, out, dOut, dqkv, stats], 2, PARAMS, values, rows);
  dispatchItems(gpu, 'attention-backward-kv', keyWgsl(dh, qkv.dtype as FloatDType), [qkv, dOut, stats, dqkv], 1, PARAMS, values, rows);
  stats.release();
  return dqkv;
}
