// 'subgroup-matrix' (experimental: real GPUs whose Dawn exposes chromium-experimental-subgroup-matrix;
// Vulkan cooperative matrices on NVIDIA/AMD/Intel, simdgroup matrices on Apple): the tensor cores.
// A 64×64 tile of C per workgroup; four subgroups each own a 32×32 block of it as a grid of
// adapter-sized fragments (8×8 on Apple, 16×16 or 16×8 on NVIDIA/AMD, 8×16 on Intel) and
// accumulate them with subgroupMatrixMultiplyAccumulate over K-slices of 32 staged in workgroup
// memory. The result goes through a workgroup tile into the shared epilogue (generator.ts), so
// bias/GELU/scale/residual and the guarded edge stores are the same code as the other variants.
//
// f16 math: A and B are staged as f16 whatever their storage dtype, so f32 operands are rounded to
// f16 here (~5e-4 relative per operand; values beyond ±65504 become ±inf). Products accumulate in
// f32 when the adapter has an f16→f32 configuration (preferred), else in f16.
//
// Builtins as Dawn's Tint parses them (src/tint/lang/wgsl/wgsl.def "New variants", mirrored from
// src/dawn/tests/end2end/SubgroupMatrixTests.cpp):
//   subgroup_matrix_left<T, K, M>   (M rows × K columns)
//   subgroup_matrix_right<T, N, K>  (K rows × N columns)
//   subgroup_matrix_result<T, N, M> (M rows × N columns)
//   subgroupMatrixLoad<Type, row_major|col_major>(&array, offset, stride) -> Type
//   subgroupMatrixStore<row_major|col_major>(&array, offset, value, stride)
//   subgroupMatrixMultiplyAccumulate(left, right, acc) -> acc's type
// (row-major: element [r, c] at offset + r·stride + c; offset and stride count array elements).
// Restrictions: every call in (sub)group-uniform control flow with uniform pointer, offset and
// stride (Tint's uniformity analysis treats subgroup_id as uniform); workgroup_size.x a multiple of
// the adapter's subgroupMaxSize; matrix types must match one of the adapter's configurations
// (pipeline-creation error otherwise); `enable f16` for f16 components.
import { ShaderError } from '../../errors.js';
import type { Gpu } from '../../gpu/device.js';
import { BLOCK_INDEX, storeRows } from './generator.js';
import type { GemmKey, SubgroupMatrixShape } from './types.js';

/** Workgroup tile (rows = columns of C) and K-slice staged per step. */
export const SGM_TILE = 64;
const TK = 32;
/** Each of the 4 computing subgroups owns a 32×32 block (a 2×2 grid of blocks per tile). */
const BLOCK = 32;
const COMPUTE_SUBGROUPS = 4;

/** Workgroup memory: A and B slices as f16, half of the C tile in the result type. */
function workgroupBytes(result: 'f32' | 'f16'): number {
  return 2 * SGM_TILE * TK * 2 + (SGM_TILE / 2) * SGM_TILE * (result === 'f32' ? 4 : 2);
}
/** The most workgroup memory the body declares (f32 result): 16 KiB, WebGPU's guaranteed minimum. */
export const SGM_WORKGROUP_BYTES = workgroupBytes('f32');

/**
 * The shape this device runs the variant with, or null: the feature and shader-f16 enabled, an
 * f16-component configuration whose fragments tile a 32×32 block and a 32-deep K-slice (the
 * largest with an f32 result, else the largest with an f16 result), and a workgroup of
 * max(128, 4 × subgroupMaxSize) invocations within the device limits.
 */
export function subgroupMatrixShape(gpu: Gpu): SubgroupMatrixShape | null {
  const configs = gpu.subgroupMatrix;
  const maxSg = gpu.adapter.subgroupMaxSize;
  if (!configs || !gpu.f16 || !gpu.subgroups || !maxSg) return null;
  // Four subgroups of the largest size must fit; more (smaller) subgroups only help staging.
  const wg = Math.max(128, COMPUTE_SUBGROUPS * maxSg);
  const lim = gpu.limits;
  // The epilogue maps a 32×64 half tile (512 vec4 groups) onto the workgroup: wg must divide 512.
  if (wg > 512 || 512 % wg !== 0 || wg > lim.maxComputeInvocationsPerWorkgroup || wg > lim.maxComputeWorkgroupSizeX) return null;
  const fits = (c: { componentType: string; M: number; N: number; K: number }) => c.componentType === 'f16' && BLOCK % c.M === 0 && BLOCK % c.N === 0 && TK % c.K === 0;
  for (const result of ['f32', 'f16'] as const) {
    if (workgroupBytes(result) > lim.maxComputeWorkgroupStorageSize) continue;
    const best = configs.filter((c) => fits(c) && c.resultComponentType === result).sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K)[0];
    if (best) return { M: best.M, N: best.N, K: best.K, result, wg };
  }
  return null;
}

/** subgroupMatrixShape, or a ShaderError naming what the device lacks (the variant was forced). */
export function requireSubgroupMatrixShape(gpu: Gpu): SubgroupMatrixShape {
  const s = subgroupMatrixShape(gpu);
  if (s) return s;
  const why = !gpu.subgroupMatrix
    ? `chromium-experimental-subgroup-matrix is not enabled on this device${gpu.experimentalKernels ? '' : ' (experimental kernels are off)'}`
    : !gpu.f16 || !gpu.subgroups
    ? 'it also needs shader-f16 and subgroups'
    : `no usable f16 configuration among ${JSON.stringify(gpu.subgroupMatrix)} (subgroupMaxSize ${gpu.adapter.subgroupMaxSize})`;
  throw new ShaderError('matmul', `variant 'subgroup-matrix' cannot run: ${why}`, { hint: 'omit the variant option to let the device choose; subgroup matrices need experimentalKernels (ECHOCLIP_EXPERIMENTAL_KERNELS=1) and a GPU that has them' });
}

/** The subgroup-matrix operations the body uses: the builtins, or plain-WGSL stand-ins (tests). */
interface Primitives {
  /** Module-scope declarations (type aliases, helper functions). */
  decls: string;
  /** Extra `main` parameters. */
  args: string;
  /** Statements defining `sgid` (and whatever the stand-ins need). */
  prelude: string;
  /** The bound of the K-slice's fragment-step loop (TK). */
  sliceEnd: string;
  /** A zero accumulator (the `i`-th of this subgroup). */
  zero(i: number): string;
  /** Left fragment at element `off` of tA (row-major, stride TK). */
  left(off: string): string;
  /** Right fragment at element `off` of tB (row-major, stride TILE). */
  right(off: string): string;
  mma(l: string, r: string, acc: string): string;
  /** Statement: store accumulator `acc` at element `off` of tC (row-major, stride TILE). */
  store(off: string, acc: string): string;
}

function builtins(s: SubgroupMatrixShape): Primitives {
  return {
    decls: `alias SgLeft = subgroup_matrix_left<f16, ${s.K}, ${s.M}>;
alias SgRight = subgroup_matrix_right<f16, ${s.N}, ${s.K}>;
alias SgResult = subgroup_matrix_result<${s.result}, ${s.N}, ${s.M}>;
`,
    args: ', @builtin(subgroup_id) sgid: u32',
    prelude: '',
    sliceEnd: `${TK}u`,
    zero: () => 'SgResult()',
    left: (off) => `subgroupMatrixLoad<SgLeft, row_major>(&tA, ${off}, ${TK}u)`,
    right: (off) => `subgroupMatrixLoad<SgRight, row_major>(&tB, ${off}, ${SGM_TILE}u)`,
    mma: (l, r, acc) => `subgroupMatrixMultiplyAccumulate(${l}, ${r}, ${acc})`,
    store: (off, acc) => `subgroupMatrixStore<row_major>(&tC, ${off}, ${acc}, ${SGM_TILE}u);`,
  };
}

/**
 * Stand-ins with the builtins' semantics, cheap to compile on CPU adapters: an emulated subgroup is
 * `lanes` consecutive invocations; a left/right fragment is its offset in tA/tB; an accumulator is
 * a base index into workgroup memory (sgAcc), whose elements lane, lane + lanes, … the lane owns
 * in every operation, so no lane reads what another writes.
 */
function emulated(s: SubgroupMatrixShape, lanes: number, fragments: number): Primitives {
  const R = s.result;
  const MN = s.M * s.N;
  return {
    decls: `alias SgLeft = u32;
alias SgRight = u32;
alias SgResult = u32;
var<workgroup> sgAcc: array<${R}, ${COMPUTE_SUBGROUPS * fragments * MN}>;
fn sgZero(sgid: u32, i: u32, lane: u32) -> SgResult {
  if (sgid >= ${COMPUTE_SUBGROUPS}u) { return 0u; }
  let base = (sgid * ${fragments}u + i) * ${MN}u;
  for (var e = lane; e < ${MN}u; e += ${lanes}u) { sgAcc[base + e] = ${R}(0.0); }
  return base;
}
fn sgMma(l: SgLeft, r: SgRight, acc: SgResult, lane: u32, kn: u32) -> SgResult {
  for (var e = lane; e < ${MN}u; e += ${lanes}u) {
    let i = e / ${s.N}u;
    let j = e % ${s.N}u;
    var v = f32(sgAcc[acc + e]);
    for (var k = 0u; k < kn; k++) { v += f32(tA[l + i * ${TK}u + k]) * f32(tB[r + k * ${SGM_TILE}u + j]); }
    sgAcc[acc + e] = ${R}(v);
  }
  return acc;
}
fn sgStore(off: u32, acc: SgResult, lane: u32) {
  for (var e = lane; e < ${MN}u; e += ${lanes}u) { tC[off + (e / ${s.N}u) * ${SGM_TILE}u + e % ${s.N}u] = sgAcc[acc + e]; }
}
`,
    args: '',
    prelude: `
  let sgid = li / ${lanes}u;
  let lane = li % ${lanes}u;
  // = ${s.K} and ${TK} (p.K + … never wraps), but not constants: lavapipe would unroll these
  // loops at every call site (a minute of compile per pipeline).
  let sgK = min(${s.K}u, p.K + ${s.K}u);
  let sgTK = min(${TK}u, p.K + ${TK}u);`,
    sliceEnd: 'sgTK',
    zero: (i) => `sgZero(sgid, ${i}u, lane)`,
    left: (off) => `${off}`,
    right: (off) => `${off}`,
    mma: (l, r, acc) => `sgMma(${l}, ${r}, ${acc}, lane, sgK)`,
    store: (off, acc) => `sgStore(${off}, ${acc}, lane);`,
  };
}

/** The directives the body needs (they must lead the module; repeating `enable f16` is allowed). */
export function subgroupMatrixDirectives(k: GemmKey): string {
  return k.sgm?.emulate ? 'enable f16;\n' : 'enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\n';
}

export function subgroupMatrixBody(k: GemmKey): string {
  const s = k.sgm;
  if (!s) throw new Error("GemmKey.sgm is required by the 'subgroup-matrix' variant");
  if (BLOCK % s.M || BLOCK % s.N || TK % s.K || 512 % s.wg || (s.emulate && s.wg % s.emulate)) throw new RangeError(`unsupported subgroup-matrix shape ${JSON.stringify(s)}`);
  const FR = BLOCK / s.M; // fragment rows per block
  const FC = BLOCK / s.N; // fragment columns per block
  const P = s.emulate ? emulated(s, s.emulate, FR * FC) : builtins(s);
  const T = SGM_TILE;
  const ij = [...Array(FR * FC).keys()].map((x) => [Math.floor(x / FC), x % FC] as const);
  // Staging: consecutive invocations read consecutive elements of whichever axis is contiguous in
  // storage (rows/patch A: k; transposed A: m; B: n, or k with transB). Out of range: zero, so edge
  // tiles need no other guard (zeros add nothing to the products).
  const aIdx = k.aLayout === 'cols' ? `let m = idx % ${T}u; let kk = idx / ${T}u;` : `let kk = idx % ${TK}u; let m = idx / ${TK}u;`;
  const bIdx = k.transB ? `let kk = idx % ${TK}u; let c = idx / ${TK}u;` : `let c = idx % ${T}u; let kk = idx / ${T}u;`;
  const rowsPer = (BLOCK * (T / 4)) / s.wg; // epilogue rows per invocation in a 32×64 half tile
  return /* wgsl */ `
var<workgroup> tA: array<f16, ${T * TK}>;  // A slice, [${T}][${TK}] row-major
var<workgroup> tB: array<f16, ${TK * T}>;  // B slice, [${TK}][${T}] row-major
var<workgroup> tC: array<${s.result}, ${BLOCK * T}>; // half of the C tile, [${BLOCK}][${T}] row-major
${P.decls}
@compute @workgroup_size(${s.wg}, 1, 1)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u${P.args}) {${BLOCK_INDEX}${P.prelude}
  let rowT = rblk * ${T}u;
  let colT = wid.x * ${T}u;
  // Subgroups 0-3 compute block (sr, sc); further subgroups (adapters whose subgroups are smaller
  // than their maximum) only stage and store. subgroup_id is uniform across its subgroup, so every
  // subgroup-matrix call below is in subgroup-uniform control flow.
  let computes = sgid < ${COMPUTE_SUBGROUPS}u;
  let sr = sgid / 2u;
  let sc = sgid % 2u;
  ${ij.map(([i, j], x) => `var acc${i}_${j} = ${P.zero(x)};`).join('\n  ')}
  for (var k0 = 0u; k0 < p.K; k0 += ${TK}u) {
    for (var idx = li; idx < ${T * TK}u; idx += ${s.wg}u) {
      {
        ${aIdx}
        let gr = rowT + m;
        let gk = k0 + kk;
        tA[m * ${TK}u + kk] = f16(select(0.0, loadA(b, min(gr, p.M - 1u), min(gk, p.K - 1u)), gr < p.M && gk < p.K));
      }
      {
        ${bIdx}
        let gc = colT + c;
        let gk = k0 + kk;
        tB[kk * ${T}u + c] = f16(select(0.0, loadB(b, min(gk, p.K - 1u), min(gc, p.N - 1u)), gc < p.N && gk < p.K));
      }
    }
    workgroupBarrier();
    if (computes) {
      for (var ks = 0u; ks < ${P.sliceEnd}; ks += ${s.K}u) {
        ${[...Array(FR).keys()].map((i) => `let a${i} = ${P.left(`(sr * ${BLOCK}u + ${i * s.M}u) * ${TK}u + ks`)};`).join('\n        ')}
        ${[...Array(FC).keys()].map((j) => `let b${j} = ${P.right(`ks * ${T}u + sc * ${BLOCK}u + ${j * s.N}u`)};`).join('\n        ')}
        ${ij.map(([i, j]) => `acc${i}_${j} = ${P.mma(`a${i}`, `b${j}`, `acc${i}_${j}`)};`).join('\n        ')}
      }
    }
    workgroupBarrier();
  }
  // The C tile leaves in two 32-row halves through tC (keeps workgroup memory within 16 KiB):
  // blocks of subgroups with sr == h, then every invocation runs the epilogue on 4-column groups.
  for (var h = 0u; h < 2u; h++) {
    if (computes && sr == h) {
      ${ij.map(([i, j]) => P.store(`${i * s.M * T}u + sc * ${BLOCK}u + ${j * s.N}u`, `acc${i}_${j}`)).join('\n      ')}
    }
    workgroupBarrier();
    {
      let cg = li % ${T / 4}u;
      let lr = (li / ${T / 4}u) * ${rowsPer}u;
      let r0 = rowT + h * ${BLOCK}u + lr;
      let c0 = colT + cg * 4u;
      if (c0 < p.N) {
        ${storeRows(rowsPer, (i) => `vec4f(${[0, 1, 2, 3].map((d) => `f32(tC[(lr + ${i}u) * ${T}u + cg * 4u + ${d}u])`).join(', ')})`)}
      }
    }
    workgroupBarrier();
  }
}
`;
}
