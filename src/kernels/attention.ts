// Multi-head self-attention as nn.MultiheadAttention computes it for open_clip's text tower:
// packed in_proj (q, k, v stacked, [3D, D] + bias [3D]) → per head softmax(q·kᵀ/√dh + causal mask)·v
// → out_proj [D, D] + bias. Activations are [B, T, D] (batch-first; open_clip's LND is a
// transpose of this), the projections run through matmul() and the attention core is one fused
// kernel that never writes the T×T scores: each query keeps a running max, a running sum and its
// output row in registers (online softmax).
//
// Core variants (by adapter profile):
// - 'rowblock': one invocation per (batch, head, pair of queries) over a flattened grid, no
//   workgroup memory (software adapters: lanes are independent; each k/v load serves both
//   queries). Measured on lavapipe (B=32, 8×64, T=77, GFLOP per CPU-second, robust to the
//   shared machine's load): 1 query per invocation with 8-key blocks 0.9-1.0, 2 queries 1.2-1.3,
//   3 queries 1.25-1.35, 4 queries 1.05, 8 queries 0.77 (spills); the tiled variant 0.7.
// - 'tiled': a workgroup per (batch, head, block of 32 queries) stages blocks of K and V rows in
//   workgroup memory, shared by all its queries (real GPUs: global loads are the bottleneck).
// - 'subgroup' (real GPUs with subgroups): a workgroup per (batch, head, block of 16 queries); each
//   subgroup takes the block's queries in turn and its lanes split the query's keys, each lane
//   keeping its own online softmax (max, sum, output row); the lanes' states are then merged with
//   one subgroupMax and subgroupAdds (the max/sum over keys as subgroup reductions). No barriers
//   and no workgroup memory in the loop: 16× the parallelism of 'tiled' for short batches, the
//   16 queries' K/V re-reads served by the cache.
// Both need head_dim <= 256 (q and the output row live in registers); head_dim % 4 == 0 uses vec4.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { attentionCoreGemm } from './attention-gemm.js';
import { matmul } from './gemm/index.js';
import { chooseVariant } from './variants.js';
import { checkSubgroups, f32Bits, foldWorkgroups, packParams, wgslEnableSubgroups, wgslParamsStruct, wgslStorage, wgslSubgroupReduce, wgslFoldedMain } from './wgsl.js';

/** The fused kernels, plus 'gemm': QKᵀ and PV as batched GEMMs (attention-gemm.ts) for the subgroup-matrix GEMM. */
export type AttentionVariant = 'rowblock' | 'tiled' | 'subgroup' | 'gemm';
type FusedVariant = Exclude<AttentionVariant, 'gemm'>;

export interface AttentionOptions {
  heads: number;
  /** Mask keys after the query (j > i), as the text tower does. Default true. */
  causal?: boolean;
  out?: Tensor;
  variant?: AttentionVariant;
}

/** nn.MultiheadAttention parameters (state-dict names in comments). */
export interface MhaWeights {
  /** attn.in_proj_weight [3D, D] */
  inProjWeight: Tensor;
  /** attn.in_proj_bias [3D] */
  inProjBias: Tensor;
  /** attn.out_proj.weight [D, D] */
  outProjWeight: Tensor;
  /** attn.out_proj.bias [D] */
  outProjBias: Tensor;
}

const MAX_HEAD_DIM = 256;
const PARAMS = wgslParamsStruct('Params', ['B', 'T', 'H', 'D', 'scale', 'count', 'causal']);
const ROW_WG = 64;
/** Queries per invocation in the rowblock variant. */
const ROW_QB = 2;
/** Queries per workgroup in the tiled variant. */
const TILE_Q = 32;
/** Invocations and queries per workgroup in the subgroup variant. */
const SG_WG = 64;
const SG_Q = 16;

// The causal flag is a uniform, not a compile-time switch: pipelines depend only on (variant,
// head_dim), and compiling is the slow part on software adapters.
interface AttnKey {
  variant: FusedVariant;
  dh: number;
}

export function defaultAttentionVariant(gpu: Gpu): AttentionVariant {
  return chooseVariant<AttentionVariant>(gpu, 'attention');
}

/** Queries per workgroup (rowblock: per invocation). */
function queriesPerGroup(variant: FusedVariant): number {
  return variant === 'rowblock' ? ROW_QB : variant === 'tiled' ? TILE_Q : SG_Q;
}

/** Keys per staged tile: K and V tiles together stay within 8 KiB of workgroup memory. */
function tileKeys(dh: number): number {
  return Math.max(4, Math.min(32, Math.floor(8192 / (2 * 4 * dh))));
}

/**
 * The tiled variant's online-softmax update for one staged tile of `kb` keys, as WGSL statements:
 * one rescale by exp(m_old − m_new) per tile. `score`, `valid` and `vload` are WGSL expressions
 * in `jj` (and `v`): key jj's scaled q·k, whether it is visible, and its value element v.
 */
function tileUpdate(kb: number, nv: number, score: string, valid: string, vload: string): string {
  return /* wgsl */ `
    var s: array<f32, ${kb}>; // every element is written before it is read
    var bm = m;
    for (var jj = 0u; jj < ${kb}u; jj++) {
      let sc = ${score};
      s[jj] = select(-3.0e38, sc, ${valid});
      bm = max(bm, s[jj]);
    }
    let corr = exp(m - bm);
    m = bm;
    l *= corr;
    for (var v = 0u; v < ${nv}u; v++) { acc[v] *= corr; }
    for (var jj = 0u; jj < ${kb}u; jj++) {
      let pj = select(0.0, exp(s[jj] - m), ${valid});
      l += pj;
      for (var v = 0u; v < ${nv}u; v++) { acc[v] += pj * ${vload}; }
    }`;
}

/** WGSL for one attention-core configuration (exported for tests). */
export function attentionWgsl(k: AttnKey): string {
  const vec = k.dh % 4 === 0;
  const W = vec ? 4 : 1;
  const VT = vec ? 'vec4f' : 'f32';
  const NV = k.dh / W;
  const dot = vec ? 'dot(a, b)' : 'a * b';
  const head =
    // The subgroup variant's loop over queries is uniform per subgroup (sg_id and sg_count are),
    // which is what its subgroup reductions need; WGSL's analysis only proves workgroup uniformity.
    (k.variant === 'subgroup' ? 'diagnostic(off, subgroup_uniformity);\n' : '') +
    wgslEnableSubgroups(k.variant === 'subgroup') +
    PARAMS.code +
    wgslStorage(0, 'QKV', `array<${VT}>`, 'read') +
    wgslStorage(1, 'O', `array<${VT}>`, 'read_write') +
    `@group(0) @binding(2) var<uniform> p: Params;
// Row of part (0 q, 1 k, 2 v) of head h at token t, in ${VT} units.
fn qkv_at(b: u32, t: u32, part: u32, h: u32) -> u32 { return ((b * p.T + t) * 3u * p.D + part * p.D + h * ${k.dh}u) / ${W}u; }
fn vdot(a: ${VT}, b: ${VT}) -> f32 { return ${dot}; }
`;
  if (k.variant === 'rowblock') {
    const QB = ROW_QB;
    return head + /* wgsl */ `
var<private> qs: array<${VT}, ${QB * NV}>;
var<private> accs: array<${VT}, ${QB * NV}>;${wgslFoldedMain(ROW_WG)}  let idx = gid;
  if (idx >= p.count) { return; }
  let nqb = (p.T + ${QB - 1}u) / ${QB}u;
  let i0 = (idx % nqb) * ${QB}u;
  let h = (idx / nqb) % p.H;
  let b = idx / (nqb * p.H);
  let scale = bitcast<f32>(p.scale);
  for (var qq = 0u; qq < ${QB}u; qq++) {
    let qb = qkv_at(b, min(i0 + qq, p.T - 1u), 0u, h);
    for (var v = 0u; v < ${NV}u; v++) { qs[qq * ${NV}u + v] = QKV[qb + v] * scale; accs[qq * ${NV}u + v] = ${VT}(0.0); }
  }
  // Explicit initial values throughout: see the note on \`s\` below.
  var m = array<f32, ${QB}>();
  var l = array<f32, ${QB}>();
  for (var qq = 0u; qq < ${QB}u; qq++) { m[qq] = -3.0e38; }
  let causal = p.causal != 0u;
  let lim = select(p.T, min(i0 + ${QB}u, p.T), causal);
  for (var j = 0u; j < lim; j++) {
    // One load of each k / v element serves all ${QB} queries of this invocation. (Blocking keys
    // as well, to rescale once per block, measured no faster here.)
    let kb = qkv_at(b, j, 1u, h);
    var s = array<f32, ${QB}>(); // explicit init: a bare \`var\` in a loop was not re-zeroed on lavapipe
    for (var v = 0u; v < ${NV}u; v++) {
      let kv = QKV[kb + v];
      for (var qq = 0u; qq < ${QB}u; qq++) { s[qq] += vdot(qs[qq * ${NV}u + v], kv); }
    }
    var corr: array<f32, ${QB}>;
    var pj: array<f32, ${QB}>;
    for (var qq = 0u; qq < ${QB}u; qq++) {
      let ok = !causal || j <= i0 + qq;
      let mn = max(m[qq], select(-3.0e38, s[qq], ok));
      corr[qq] = exp(m[qq] - mn);
      pj[qq] = select(0.0, exp(s[qq] - mn), ok);
      m[qq] = mn;
      l[qq] = l[qq] * corr[qq] + pj[qq];
    }
    let vb = qkv_at(b, j, 2u, h);
    for (var v = 0u; v < ${NV}u; v++) {
      let vv = QKV[vb + v];
      for (var qq = 0u; qq < ${QB}u; qq++) { accs[qq * ${NV}u + v] = accs[qq * ${NV}u + v] * corr[qq] + pj[qq] * vv; }
    }
  }
  for (var qq = 0u; qq < ${QB}u; qq++) {
    let i = i0 + qq;
    if (i < p.T) {
      let ob = ((b * p.T + i) * p.D + h * ${k.dh}u) / ${W}u;
      let inv = 1.0 / l[qq];
      for (var v = 0u; v < ${NV}u; v++) { O[ob + v] = accs[qq * ${NV}u + v] * inv; }
    }
  }
}
`;
  }
  if (k.variant === 'subgroup') {
    return head + wgslSubgroupReduce(SG_WG) + /* wgsl */ `
var<private> q: array<${VT}, ${NV}>;
var<private> acc: array<${VT}, ${NV}>;${wgslFoldedMain(SG_WG)}  let blk = wg_id;
  if (blk >= p.count) { return; } // uniform per workgroup
  sg_init(lid);
  let nqb = (p.T + ${SG_Q - 1}u) / ${SG_Q}u;
  let q0 = (blk % nqb) * ${SG_Q}u;
  let h = (blk / nqb) % p.H;
  let b = blk / (nqb * p.H);
  let scale = bitcast<f32>(p.scale);
  let causal = p.causal != 0u;
  for (var r = sg_id; r < ${SG_Q}u; r += sg_count) {
    let i = q0 + r;
    if (i >= p.T) { break; }
    let qb = qkv_at(b, i, 0u, h);
    for (var v = 0u; v < ${NV}u; v++) { q[v] = QKV[qb + v] * scale; acc[v] = ${VT}(0.0); }
    // This lane's keys: sg_lane, sg_lane + sg_lanes, … (a lane past the last key keeps m = -3e38, l = 0).
    var m = -3.0e38;
    var l = 0.0;
    let lim = select(p.T, i + 1u, causal);
    for (var j = sg_lane; j < lim; j += sg_lanes) {
      let kb = qkv_at(b, j, 1u, h);
      var sc = 0.0;
      for (var v = 0u; v < ${NV}u; v++) { sc += vdot(q[v], QKV[kb + v]); }
      let mn = max(m, sc);
      let corr = exp(m - mn);
      let pj = exp(sc - mn);
      m = mn;
      l = l * corr + pj;
      let vb = qkv_at(b, j, 2u, h);
      for (var v = 0u; v < ${NV}u; v++) { acc[v] = acc[v] * corr + pj * QKV[vb + v]; }
    }
    // Merge the lanes: rescale each to the query's max, then sum (key 0 is always visible, so the
    // max is finite and idle lanes' weights are exp(-3e38 - max) = 0).
    let mq = subgroupMax(m);
    let w = exp(m - mq);
    let inv = 1.0 / subgroupAdd(l * w);
    let ob = ((b * p.T + i) * p.D + h * ${k.dh}u) / ${W}u;
    for (var v = 0u; v < ${NV}u; v++) {
      let o = subgroupAdd(acc[v] * w);
      if (v % sg_lanes == sg_lane) { O[ob + v] = o * inv; } // the lanes share the stores
    }
  }
}
`;
  }
  const KT = tileKeys(k.dh);
  const update = tileUpdate(KT, NV, 'tile_score(jj)', 'j0 + jj < mylim', `tV[jj * ${NV}u + v]`);
  return head + /* wgsl */ `
// Private (not function-local) so tile_score reads q without copying it.
var<private> q: array<${VT}, ${NV}>;
var<private> acc: array<${VT}, ${NV}>;
var<workgroup> tK: array<${VT}, ${KT * NV}>;
var<workgroup> tV: array<${VT}, ${KT * NV}>;
fn tile_score(jj: u32) -> f32 {
  var d = 0.0;
  for (var v = 0u; v < ${NV}u; v++) { d += vdot(q[v], tK[jj * ${NV}u + v]); }
  return d;
}${wgslFoldedMain(TILE_Q)}  let blk = wg_id;
  if (blk >= p.count) { return; } // uniform per workgroup, so the barriers below stay uniform
  let nqb = (p.T + ${TILE_Q - 1}u) / ${TILE_Q}u;
  let q0 = (blk % nqb) * ${TILE_Q}u;
  let h = (blk / nqb) % p.H;
  let b = blk / (nqb * p.H);
  let i = q0 + lid;
  let ic = min(i, p.T - 1u);
  let qb = qkv_at(b, ic, 0u, h);
  for (var v = 0u; v < ${NV}u; v++) { q[v] = QKV[qb + v] * bitcast<f32>(p.scale); acc[v] = ${VT}(0.0); }
  var m = -3.0e38;
  var l = 0.0;
  // Keys any query of this block can see (uniform), and this query's own limit.
  let causal = p.causal != 0u;
  let lim = select(p.T, min(q0 + ${TILE_Q}u, p.T), causal);
  let mylim = select(p.T, ic + 1u, causal);
  for (var j0 = 0u; j0 < lim; j0 += ${KT}u) {
    workgroupBarrier(); // the previous tile is no longer read
    for (var e = lid; e < ${KT * NV}u; e += ${TILE_Q}u) {
      let j = min(j0 + e / ${NV}u, p.T - 1u);
      tK[e] = QKV[qkv_at(b, j, 1u, h) + e % ${NV}u];
      tV[e] = QKV[qkv_at(b, j, 2u, h) + e % ${NV}u];
    }
    workgroupBarrier();${update}
  }
  if (i < p.T) {
    let ob = ((b * p.T + i) * p.D + h * ${k.dh}u) / ${W}u;
    let inv = 1.0 / l;
    for (var v = 0u; v < ${NV}u; v++) { O[ob + v] = acc[v] * inv; }
  }
}
`;
}

/**
 * The attention core on packed projections qkv [B, T, 3D] (q | k | v along the last axis, each
 * [heads × head_dim]) → [B, T, D] with the heads concatenated (what out_proj consumes). q is
 * scaled by 1/√head_dim before q·kᵀ, as PyTorch does.
 */
export function attentionCore(qkv: Tensor, opts: AttentionOptions): Tensor {
  const gpu = qkv.gpu;
  if (qkv.dtype !== 'f32' || qkv.shape.length !== 3 || qkv.shape[2] % 3 !== 0) {
    throw new ShapeError('attention', `expects packed f32 qkv [B, T, 3·D], got ${qkv.dtype} [${qkv.shape.join(', ')}]`);
  }
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const H = opts.heads;
  if (!Number.isInteger(H) || H < 1 || D % H !== 0) throw new ShapeError('attention', `width ${D} must split into ${H} heads of equal size`);
  const dh = D / H;
  if (dh > MAX_HEAD_DIM) throw new ShapeError('attention', `head_dim ${dh} exceeds the supported ${MAX_HEAD_DIM}`, { hint: 'use more heads' });
  const out = opts.out ?? Tensor.empty(gpu, [B, T, D], 'f32', 'attention.out');
  if (out.dtype !== 'f32' || out.size !== B * T * D) throw new ShapeError('attention out', `must be f32 [${B}, ${T}, ${D}], got ${out.dtype} [${out.shape.join(', ')}]`);
  if (B * T * D === 0) return out;
  if (dh % 4 === 0 && (qkv.byteOffset % 16 !== 0 || out.byteOffset % 16 !== 0)) throw new ShapeError('attention', 'vec4 bindings need 16-byte aligned tensor offsets');
  const variant = opts.variant ?? defaultAttentionVariant(gpu);
  // Tensor cores reach attention only through the GEMM (experimental, see variants.ts).
  if (variant === 'gemm') return attentionCoreGemm(qkv, { heads: H, causal: opts.causal ?? true, out, variant: 'subgroup-matrix' });
  checkSubgroups(gpu, variant, 'attention');
  const key: AttnKey = { variant, dh };
  const count = B * H * Math.ceil(T / queriesPerGroup(variant));
  const groups = variant === 'rowblock' ? Math.ceil(count / ROW_WG) : count;
  gpu.dispatch({
    kernel: { name: `attention/${variant}`, code: attentionWgsl(key), storage: ['read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [qkv, out],
    uniforms: packParams(PARAMS.bytes, [B, T, H, D, f32Bits(1 / Math.sqrt(dh)), count, opts.causal ?? true ? 1 : 0]),
    workgroups: foldWorkgroups(groups, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/**
 * Self-attention x [B, T, D] → [B, T, D]: in_proj (one matmul for q, k and v), the fused core,
 * out_proj. Intermediates go back to the pool as soon as their last reader is recorded.
 */
export function multiHeadAttention(x: Tensor, w: MhaWeights, opts: AttentionOptions): Tensor {
  if (x.dtype !== 'f32' || x.shape.length !== 3) throw new ShapeError('multiHeadAttention', `expects f32 x [B, T, D], got ${x.dtype} [${x.shape.join(', ')}]`);
  const [B, T, D] = x.shape;
  // Checked here too, so a bad head count fails before any work is recorded.
  if (!Number.isInteger(opts.heads) || opts.heads < 1 || D % opts.heads !== 0) throw new ShapeError('multiHeadAttention', `width ${D} must split into ${opts.heads} heads of equal size`);
  const want: [Tensor, number[], string][] = [
    [w.inProjWeight, [3 * D, D], 'in_proj_weight'],
    [w.inProjBias, [3 * D], 'in_proj_bias'],
    [w.outProjWeight, [D, D], 'out_proj.weight'],
    [w.outProjBias, [D], 'out_proj.bias'],
  ];
  for (const [t, shape, name] of want) {
    if (t.dtype !== 'f32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ShapeError(`multiHeadAttention ${name}`, `must be f32 [${shape.join(', ')}] for width ${D}, got ${t.dtype} [${t.shape.join(', ')}]`);
    }
  }
  // Owning tensors are allocated in the [B, T, ·] shapes and matmul writes through 2-D views, so
  // release() on what we return (and on qkv/core here) really returns the buffers to the pool.
  const gpu = x.gpu;
  if (opts.out && (opts.out.dtype !== 'f32' || opts.out.size !== B * T * D)) throw new ShapeError('multiHeadAttention out', `must be f32 [${B}, ${T}, ${D}], got ${opts.out.dtype} [${opts.out.shape.join(', ')}]`);
  const out = opts.out ?? Tensor.empty(gpu, [B, T, D], 'f32', 'attention.out');
  const qkv = Tensor.empty(gpu, [B, T, 3 * D], 'f32', 'attention.qkv');
  matmul(x.reshape([B * T, D]), w.inProjWeight, { transB: true, bias: w.inProjBias, out: qkv.reshape([B * T, 3 * D]) });
  const core = attentionCore(qkv, { heads: opts.heads, causal: opts.causal, variant: opts.variant });
  qkv.release();
  matmul(core.reshape([B * T, D]), w.outProjWeight, { transB: true, bias: w.outProjBias, out: out.reshape([B * T, D]) });
  core.release();
  return out;
}
