// Matrix multiply and the GEMM core shared with the implicit-GEMM convolutions (conv2d.ts):
//   C[b] = epilogue(op(A[b]) · op(B[b]))
//   epilogue(v) = residual + scale ⊙ act(v + bias)     (each part optional)
//
// Two variants, chosen per adapter (Gpu.kernelProfile):
// - 'regblock': each invocation owns an 8×4 block of C held in registers and streams A and B from
//   storage with no workgroup memory. On CPU adapters (lavapipe, SwiftShader) workgroup memory is
//   plain RAM plus barriers that serialise the SIMD lanes, so skipping it is 2-4× faster; the 8×4
//   block gives 128 FMAs per 12 vec4 loads.
// - 'tiled': a 64×64 tile per 16×16 workgroup staged through workgroup memory in K-slices of 16,
//   each invocation again computing 4×4 — the classic shape for real GPUs, where shared memory is
//   fast and global loads are the bottleneck.
// Layouts: A is [batch, M, K] ([batch, K, M] with transA), B is [batch, K, N] ([batch, N, K] with
// transB — a torch Linear weight), C is [batch, M, N]. An operand with batch stride 0 is broadcast.
//
// A can also be read as "patches" (the implicit GEMM of a stride = kernel convolution): row r is
// an output pixel (n, oy, ox) and its K values are `segs` runs of `segLen` contiguous elements,
// found by strides (see GemmPatch). That keeps the vec4 fast path for the convolutions.
//
// f16 storage (where the adapter has shader-f16): any operand, bias, scale, residual and C may be
// f16; values widen to f32 on load and products accumulate in f32, so only the storage rounding
// (~5e-4 relative per operand) differs from the f32 kernel.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { checkFloatTensor, foldWorkgroups, packParams, WGSL_ERF, wgslEnableF16, wgslFloatType, wgslParamsStruct, wgslStorage, type FloatDType } from './wgsl.js';

export type MatmulVariant = 'regblock' | 'tiled';

/** The fused epilogue: out = residual + scale ⊙ act(acc + bias). */
export interface GemmEpilogue {
  /** Per-column bias [N], added before the activation. */
  bias?: Tensor;
  /** Exact (erf) GELU activation. */
  gelu?: boolean;
  /** Per-column scale [N] applied after the activation (ConvNeXt's layer-scale gamma). */
  scale?: Tensor;
  /**
   * Added last; same shape as the output. May be the `out` tensor itself (in-place residual
   * update, x += gamma ⊙ f(x)): the kernel then reads C before overwriting it.
   */
  residual?: Tensor;
}

export interface MatmulOptions extends GemmEpilogue {
  transA?: boolean;
  transB?: boolean;
  /** Force a variant (default: by adapter). */
  variant?: MatmulVariant;
  /** Write into this tensor instead of allocating. */
  out?: Tensor;
  /** dtype of a newly allocated output (default: A's dtype). */
  dtype?: FloatDType;
}

/**
 * How an implicit-GEMM convolution reads A: row r = (n, oy, ox) with r = (n·Ho + oy)·Wo + ox
 * starts at n·sN + oy·sOy + ox·sOx; k = seg·segLen + j reads element
 * rowStart + (seg / segInner)·segOuterStride + (seg % segInner)·segInnerStride + j.
 */
export interface GemmPatch {
  Ho: number;
  Wo: number;
  sN: number;
  sOy: number;
  sOx: number;
  segLen: number;
  segInner: number;
  segOuterStride: number;
  segInnerStride: number;
}

type ALayout = 'rows' | 'cols' | 'patch';

interface GemmKey {
  variant: MatmulVariant;
  aLayout: ALayout;
  transB: boolean;
  bias: boolean;
  gelu: boolean;
  scale: boolean;
  /** 'inplace': the residual is C itself. */
  residual: 'none' | 'separate' | 'inplace';
  tA: FloatDType;
  tB: FloatDType;
  tBias: FloatDType;
  tScale: FloatDType;
  tR: FloatDType;
  tC: FloatDType;
  /** A bound as vec4 (rows: along K, K % 4 == 0; patch: segLen and all strides % 4 == 0; cols: along M, M % 4 == 0). */
  vecA: boolean;
  /** B bound as vec4 along its contiguous axis (N without transB, K with it). */
  vecB: boolean;
  /** C (and a separate residual) bound as vec4 (N % 4 == 0). */
  vecC: boolean;
  /** Patch segments of exactly 4 values (the k4 stem on NCHW pixels): one unrolled vec4 step each. */
  seg4: boolean;
  /** K (or the patch segment length) is not a multiple of 4: emit the scalar remainder loop. */
  kTail: boolean;
}

const PARAMS = wgslParamsStruct('Params', [
  'M', 'N', 'K', 'batch', 'strideA', 'strideB', 'strideC', 'rowBlocks',
  'Ho', 'Wo', 'sN', 'sOy', 'sOx', 'segLen', 'segInner', 'segOuterStride', 'segInnerStride',
]);

/** Register-blocked shape: 8 rows × 4 columns per invocation, 64 invocations along the columns. */
// Measured on lavapipe (1024³): 4×4 with 8×8 invocations 6.2 GFLOP/s, 8×4 with 64×1 7.6; a 32-float
// accumulator still fits AVX-512 registers, and 64 consecutive column blocks read B rows contiguously.
const RB_TM = 8;
const RB_WG = 64;
const TILE = 64;
const TK = 16;

/**
 * Storage declaration plus element accessors for one float array: `ld_X(i)` (element i, as f32),
 * `ld4_X(i)` (elements i..i+3, i % 4 == 0, vec arrays only) and the matching stores.
 */
function floatArray(binding: number, name: string, dtype: FloatDType, vec: boolean, access: 'read' | 'read_write'): string {
  let code = wgslStorage(binding, name, `array<${wgslFloatType(dtype, vec)}>`, access);
  const S = dtype; // WGSL scalar type name equals the dtype name
  if (vec) {
    code += `fn ld_${name}(i: u32) -> f32 { return f32(${name}[i >> 2u][i & 3u]); }\n`;
    code += `fn ld4_${name}(i: u32) -> vec4f { return vec4f(${name}[i >> 2u]); }\n`;
    if (access === 'read_write') {
      code += `fn st_${name}(i: u32, v: f32) { ${name}[i >> 2u][i & 3u] = ${S}(v); }\n`;
      code += `fn st4_${name}(i: u32, v: vec4f) { ${name}[i >> 2u] = vec4<${S}>(v); }\n`;
    }
  } else {
    code += `fn ld_${name}(i: u32) -> f32 { return f32(${name}[i]); }\n`;
    if (access === 'read_write') code += `fn st_${name}(i: u32, v: f32) { ${name}[i] = ${S}(v); }\n`;
  }
  return code;
}

function bindings(k: GemmKey): { code: string; storage: ('read' | 'read_write')[] } {
  let code = '';
  const storage: ('read' | 'read_write')[] = [];
  const add = (name: string, dtype: FloatDType, vec: boolean, access: 'read' | 'read_write') => {
    code += floatArray(storage.length, name, dtype, vec, access);
    storage.push(access);
  };
  add('A', k.tA, k.vecA, 'read');
  add('B', k.tB, k.vecB, 'read');
  if (k.bias) add('Bias', k.tBias, false, 'read');
  if (k.scale) add('Scale', k.tScale, false, 'read');
  if (k.residual === 'separate') add('R', k.tR, k.vecC, 'read');
  add('C', k.tC, k.vecC, 'read_write');
  code += `@group(0) @binding(${storage.length}) var<uniform> p: Params;\n`;
  return { code, storage };
}

/**
 * Addressing of A and B: `aRow(abase, r)` (start of row r), `aSeg(seg)` (offset of a patch
 * segment) and the generic element loads `loadA(b, r, kk)` / `loadB(b, kk, c)` that the tiled
 * variant and edge loops use.
 */
function addressing(k: GemmKey): string {
  const aRow = {
    rows: 'return abase + r * p.K;',
    cols: 'return abase + r;',
    patch: 'let hw = p.Ho * p.Wo; let n = r / hw; let rem = r - n * hw; let oy = rem / p.Wo; let ox = rem - oy * p.Wo; return abase + n * p.sN + oy * p.sOy + ox * p.sOx;',
  }[k.aLayout];
  const aElem = {
    rows: 'aRow(b * p.strideA, r) + kk',
    cols: 'aRow(b * p.strideA, r) + kk * p.M',
    patch: 'aRow(b * p.strideA, r) + aSeg(kk / p.segLen) + kk % p.segLen',
  }[k.aLayout];
  const bElem = k.transB ? 'b * p.strideB + c * p.K + kk' : 'b * p.strideB + kk * p.N + c';
  return /* wgsl */ `
fn aRow(abase: u32, r: u32) -> u32 { ${aRow} }
fn aSeg(seg: u32) -> u32 { return (seg / p.segInner) * p.segOuterStride + (seg % p.segInner) * p.segInnerStride; }
fn loadA(b: u32, r: u32, kk: u32) -> f32 { return ld_A(${aElem}); }
fn loadB(b: u32, kk: u32, c: u32) -> f32 { return ld_B(${bElem}); }
`;
}

/**
 * Bias + activation + scale + residual + guarded store of one row's 4 columns. The main loops keep
 * their accumulators in separate variables (a dynamically indexed array would be demoted to memory
 * by CPU adapters' compilers); only at the end are they copied into an array and stored by a row
 * loop, so the epilogue (GELU's erf in particular) is compiled once, not once per row — with it
 * unrolled, lavapipe took 3-5× longer to compile a kernel.
 */
function epilogue(k: GemmKey): string {
  const R = k.residual === 'inplace' ? 'C' : 'R';
  const full = [
    k.bias ? 'v += cols.bias;' : '',
    k.gelu ? 'v = vec4f(gelu_f32(v.x), gelu_f32(v.y), gelu_f32(v.z), gelu_f32(v.w));' : '',
    k.scale ? 'v *= cols.scale;' : '',
  ].join('\n  ');
  // Bias and scale depend on the column only: loaded once per invocation (epilogueCols), not per
  // row — with a short K (the stem's 48) per-row loads were a fifth of the work.
  const colVec = (arr: string) => `vec4f(ld_${arr}(min(c0, p.N - 1u)), ld_${arr}(min(c0 + 1u, p.N - 1u)), ld_${arr}(min(c0 + 2u, p.N - 1u)), ld_${arr}(min(c0 + 3u, p.N - 1u)))`;
  // Residual and store: whole vec4 when the row has 4 more columns and C is vec4, else per element.
  const resVec = k.residual !== 'none' ? `v += ld4_${R}(i);` : '';
  const resOne = k.residual !== 'none' ? `ld_${R}(i + j) + ` : '';
  const store = k.vecC
    ? `if (c0 + 3u < p.N) { ${resVec} st4_C(i, v); } else { for (var j = 0u; j < 4u; j++) { if (c0 + j < p.N) { st_C(i + j, ${resOne}v[j]); } } }`
    : `for (var j = 0u; j < 4u; j++) { if (c0 + j < p.N) { st_C(i + j, ${resOne}v[j]); } }`;
  return /* wgsl */ `
struct EpilogueCols { bias: vec4f, scale: vec4f }
fn epilogueCols(c0: u32) -> EpilogueCols {
  return EpilogueCols(${k.bias ? colVec('Bias') : 'vec4f(0.0)'}, ${k.scale ? colVec('Scale') : 'vec4f(1.0)'});
}

fn storeRow(b: u32, row: u32, c0: u32, acc: vec4f, cols: EpilogueCols) {
  var v = acc;
  ${full}
  let i = b * p.strideC + row * p.N + c0;
  ${store}
}
`;
}

/** Epilogue over `rows` accumulator rows named by `acc(i)` (copied into an array, then a row loop). */
function storeRows(rows: number, acc: (i: number) => string): string {
  return `let accs = array<vec4f, ${rows}>(${[...Array(rows).keys()].map(acc).join(', ')});
  // A runtime trip count keeps compilers from unrolling the loop (and the epilogue) again.
  // (r0 may lie past M in the tiled variant's edge tiles: no rows then.)
  let nrows = select(0u, min(${rows}u, p.M - r0), r0 < p.M);
  let cols = epilogueCols(c0);
  for (var ri = 0u; ri < nrows; ri++) {
    storeRow(b, r0 + ri, c0, accs[ri], cols);
  }`;
}

/** The (row block, batch) pair of this workgroup: the pair index is folded over y and z. */
const BLOCK_INDEX = /* wgsl */ `
  let blk = wid.y + wid.z * nwg.y;
  if (blk >= p.rowBlocks * p.batch) { return; }
  let b = blk / p.rowBlocks;
  let rblk = blk - b * p.rowBlocks;`;

/**
 * Patch-row starts a0..a{n-1} for rows r0.. (clamped to M - 1): one (n, oy, ox) division for r0,
 * then an odometer step per row — per-lane integer division is slow on software adapters.
 */
function patchRows(n: number): string {
  let code = `var pn = 0u; var py = 0u; var px = 0u;
  { let r = min(r0, p.M - 1u); let hw = p.Ho * p.Wo; pn = r / hw; let rem = r - pn * hw; py = rem / p.Wo; px = rem - py * p.Wo; }
  let abase = b * p.strideA;`;
  for (let i = 0; i < n; i++) {
    if (i > 0) code += `
  if (r0 + ${i}u < p.M) { px += 1u; if (px == p.Wo) { px = 0u; py += 1u; if (py == p.Ho) { py = 0u; pn += 1u; } } }`;
    code += `
  let a${i} = abase + pn * p.sN + py * p.sOy + px * p.sOx;`;
  }
  return code;
}

function regblockBody(k: GemmKey): string {
  const rows = [...Array(RB_TM).keys()];
  const patch = k.aLayout === 'patch';
  // A element (row i, k offset j within the segment, absolute k kk).
  const aAt = (i: number, j: string, kk: string) => (k.aLayout === 'cols' ? `a${i} + (${kk}) * p.M` : patch ? `a${i} + so + ${j}` : `a${i} + ${j}`);
  // Transposed A with vec4 bindings: one vec4 load fetches 4 consecutive rows at one k (instead
  // of 4 scalar loads per row for 4 k's); the weight-gradient GEMMs of training are these.
  const colsVec = k.aLayout === 'cols' && k.vecA;
  const aVec = (i: number) =>
    colsVec
      ? `vec4f(${[0, 1, 2, 3].map((d) => `${i < 4 ? 'lo' : 'hi'}${d}.${'xyzw'[i % 4]}`).join(', ')})`
      : k.vecA
      ? `ld4_A(${aAt(i, 'j', 'kk')})`
      : `vec4f(${[0, 1, 2, 3].map((d) => `ld_A(${aAt(i, `j + ${d}u`, `kk + ${d}u`)})`).join(', ')})`;
  const colLoads = colsVec ? `
      ${[0, 1, 2, 3].map((d) => `let lo${d} = ld4_A(aLo + (kk + ${d}u) * p.M); let hi${d} = ld4_A(aHi + (kk + ${d}u) * p.M);`).join('\n      ')}` : '';
  let step4: string;
  if (k.transB) {
    const bCol = (c: number) => (k.vecB ? `ld4_B(bc${c} + kk)` : `vec4f(${[0, 1, 2, 3].map((d) => `ld_B(bc${c} + kk + ${d}u)`).join(', ')})`);
    step4 = `${colLoads}
      let b0 = ${bCol(0)}; let b1 = ${bCol(1)}; let b2 = ${bCol(2)}; let b3 = ${bCol(3)};
      ${rows.map((i) => `{ let a = ${aVec(i)}; acc${i} += vec4f(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3)); }`).join('\n      ')}`;
  } else {
    const bRow = (d: number) =>
      k.vecB ? `ld4_B(bbase + (kk + ${d}u) * p.N + c0)` : `vec4f(${[0, 1, 2, 3].map((c) => `ld_B(bbase + (kk + ${d}u) * p.N + c${c})`).join(', ')})`;
    step4 = `${colLoads}
      let b0 = ${bRow(0)}; let b1 = ${bRow(1)}; let b2 = ${bRow(2)}; let b3 = ${bRow(3)};
      ${rows.map((i) => `{ let a = ${aVec(i)}; acc${i} += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3; }`).join('\n      ')}`;
  }
  const bOne = k.transB ? (c: number) => `ld_B(bc${c} + kk)` : (c: number) => `ld_B(bbase + kk * p.N + c${c})`;
  // The remainder loop is only generated when needed: less code compiles faster on CPU adapters.
  const tail = (len: string) => /* wgsl */ `
    for (var j = ${len} & ~3u; j < ${len}; j++) {
      let kk = kb + j;
      let bv = vec4f(${bOne(0)}, ${bOne(1)}, ${bOne(2)}, ${bOne(3)});
      ${rows.map((i) => `acc${i} += ld_A(${aAt(i, 'j', 'kk')}) * bv;`).join('\n      ')}
    }`;
  const inner = (len: string) => /* wgsl */ `
    for (var j = 0u; j < (${len} & ~3u); j += 4u) {
      let kk = kb + j;${step4}
    }${k.kTail ? tail(len) : ''}`;
  // Patch segments are walked with a counter, not aSeg's division: integer division has no SIMD
  // form on CPUs, so software adapters pay it per lane (it was a third of the stem's time).
  const segWalk = (body: string) => `var so = 0u; var si = 0u; var sOuter = 0u;
  for (var seg = 0u; seg < p.K / p.segLen; seg++) {${body}
    si += 1u;
    if (si == p.segInner) { si = 0u; sOuter += p.segOuterStride; }
    so = sOuter + si * p.segInnerStride;
  }`;
  const loop = k.seg4
    ? segWalk(`
    let kb = seg * 4u;
    let j = 0u;
    let kk = kb;${step4}`)
    : patch
    ? segWalk(`
    let kb = seg * p.segLen;${inner('p.segLen')}`)
    : `{
    let kb = 0u;${inner('p.K')}
  }`;
  return /* wgsl */ `
@compute @workgroup_size(${RB_WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c0 = gid.x * 4u;
  if (c0 >= p.N) { return; }${BLOCK_INDEX}
  let r0 = rblk * ${RB_TM}u;
  // Clamp rows/columns so edge blocks load in bounds; their extra results are never stored.
  ${patch ? patchRows(rows.length) : rows.map((i) => `let a${i} = aRow(b * p.strideA, min(r0 + ${i}u, p.M - 1u));`).join('\n  ')}
  ${colsVec ? '// Rows r0..r0+3 and r0+4..r0+7 (M % 4 == 0: a partial block reloads rows it never stores).\n  let aLo = b * p.strideA + r0; let aHi = b * p.strideA + min(r0 + 4u, p.M - 4u);' : ''}
  let c1 = min(c0 + 1u, p.N - 1u); let c2 = min(c0 + 2u, p.N - 1u); let c3 = min(c0 + 3u, p.N - 1u);
  let bbase = b * p.strideB;
  ${k.transB ? 'let bc0 = bbase + c0 * p.K; let bc1 = bbase + c1 * p.K; let bc2 = bbase + c2 * p.K; let bc3 = bbase + c3 * p.K;' : ''}
  ${rows.map((i) => `var acc${i} = vec4f(0.0);`).join(' ')}
  ${loop}
  ${storeRows(RB_TM, (i) => `acc${i}`)}
}
`;
}

function tiledBody(): string {
  // 256 invocations load a 64×16 slice of A and a 16×64 slice of B (4 elements each), then each
  // computes its 4×4 outputs from workgroup memory. Out-of-range elements load as zero.
  return /* wgsl */ `
var<workgroup> tA: array<array<f32, ${TILE}>, ${TK}>;
var<workgroup> tB: array<array<f32, ${TILE}>, ${TK}>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {${BLOCK_INDEX}
  let rowT = rblk * ${TILE}u;
  let colT = wid.x * ${TILE}u;
  let t = lid.y * 16u + lid.x;
  var acc = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var k0 = 0u; k0 < p.K; k0 += ${TK}u) {
    for (var e = 0u; e < 4u; e++) {
      let idx = t * 4u + e;          // 0..1023 over a 16×64 slice
      let kk = idx / ${TILE}u;
      let m = idx % ${TILE}u;
      let gk = k0 + kk;
      let gr = rowT + m;
      let gc = colT + m;
      tA[kk][m] = select(0.0, loadA(b, min(gr, p.M - 1u), min(gk, p.K - 1u)), gr < p.M && gk < p.K);
      tB[kk][m] = select(0.0, loadB(b, min(gk, p.K - 1u), min(gc, p.N - 1u)), gc < p.N && gk < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      let bv = vec4f(tB[kk][lid.x * 4u], tB[kk][lid.x * 4u + 1u], tB[kk][lid.x * 4u + 2u], tB[kk][lid.x * 4u + 3u]);
      acc[0] += tA[kk][lid.y * 4u] * bv;
      acc[1] += tA[kk][lid.y * 4u + 1u] * bv;
      acc[2] += tA[kk][lid.y * 4u + 2u] * bv;
      acc[3] += tA[kk][lid.y * 4u + 3u] * bv;
    }
    workgroupBarrier();
  }
  let r0 = rowT + lid.y * 4u;
  let c0 = colT + lid.x * 4u;
  if (c0 >= p.N) { return; }
  ${storeRows(4, (i) => `acc[${i}]`)}
}
`;
}

/** WGSL for one GEMM configuration (exported for tests and the benchmark). */
export function gemmWgsl(k: GemmKey): { code: string; storage: ('read' | 'read_write')[] } {
  const f16 = [k.tA, k.tB, k.tC, k.bias ? k.tBias : 'f32', k.scale ? k.tScale : 'f32', k.residual === 'separate' ? k.tR : 'f32'].includes('f16');
  const b = bindings(k);
  const code = wgslEnableF16(f16) + PARAMS.code + b.code + (k.gelu ? WGSL_ERF : '') + addressing(k) + epilogue(k) + (k.variant === 'regblock' ? regblockBody(k) : tiledBody());
  return { code, storage: b.storage };
}

export function defaultMatmulVariant(gpu: Gpu): MatmulVariant {
  return gpu.kernelProfile === 'software' ? 'regblock' : 'tiled';
}

/** A fully described GEMM for `recordGemm` (matmul, linear and the convolutions build these). */
export interface GemmCall {
  name: string;
  a: Tensor;
  b: Tensor;
  out: Tensor;
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Element strides between batches (0: broadcast). */
  strideA: number;
  strideB: number;
  transA?: boolean;
  transB: boolean;
  patch?: GemmPatch;
  epilogue: GemmEpilogue;
  variant?: MatmulVariant;
}

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
  const variant = g.variant ?? defaultMatmulVariant(gpu);
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
  };
  if (K === 0 && !e.bias && !e.gelu && residual === 'none') {
    gpu.recorder.clearBuffer(out.buffer, out.byteOffset, Math.ceil(out.byteLength / 4) * 4);
    return;
  }
  const { code, storage } = gemmWgsl(key);
  const per = variant === 'regblock' ? [RB_WG * 4, RB_TM] : [TILE, TILE];
  const rowBlocks = Math.ceil(M / per[1]);
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const [gy, gz] = foldWorkgroups(rowBlocks * batch, max);
  const binds = [g.a, g.b, ...(e.bias ? [e.bias] : []), ...(e.scale ? [e.scale] : []), ...(residual === 'separate' ? [e.residual!] : []), out];
  const p = pt ?? { Ho: 1, Wo: 1, sN: 0, sOy: 0, sOx: 0, segLen: Math.max(K, 1), segInner: 1, segOuterStride: 0, segInnerStride: 0 };
  gpu.dispatch({
    kernel: { name: `${g.name}/${variant}`, code, storage, uniformBytes: PARAMS.bytes },
    bindings: binds,
    uniforms: packParams(PARAMS.bytes, [
      M, N, K, batch, g.strideA, g.strideB, M * N, rowBlocks,
      p.Ho, p.Wo, p.sN, p.sOy, p.sOx, p.segLen, p.segInner, p.segOuterStride, p.segInnerStride,
    ]),
    workgroups: [Math.ceil(N / per[0]), gy, gz],
  });
}

function dims(t: Tensor, what: string): { batch: number; r: number; c: number } {
  if (t.shape.length < 2) throw new ShapeError(`matmul ${what}`, `needs at least 2 dimensions, got [${t.shape.join(', ')}]`);
  const r = t.shape[t.shape.length - 2];
  const c = t.shape[t.shape.length - 1];
  return { batch: t.size / Math.max(1, r * c) || 0, r, c };
}

/**
 * C = epilogue(op(A)·op(B)). Leading dimensions are batch dimensions; a 2-D operand is broadcast
 * over the other's batch. Returns a new tensor [...batch, M, N] unless `out` is given.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const gpu = a.gpu;
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const da = dims(a, 'A');
  const db = dims(b, 'B');
  const M = transA ? da.c : da.r;
  const K = transA ? da.r : da.c;
  const Kb = transB ? db.c : db.r;
  const N = transB ? db.r : db.c;
  if (K !== Kb) throw new ShapeError('matmul', `inner dimensions differ: A [${a.shape.join(', ')}]${transA ? 'ᵀ' : ''} · B [${b.shape.join(', ')}]${transB ? 'ᵀ' : ''}`);
  const aBatched = a.shape.length > 2;
  const bBatched = b.shape.length > 2;
  if (aBatched && bBatched && da.batch !== db.batch) throw new ShapeError('matmul', `batch sizes differ: ${da.batch} vs ${db.batch}`);
  const batch = aBatched ? da.batch : bBatched ? db.batch : 1;
  const batchShape = aBatched ? a.shape.slice(0, -2) : bBatched ? b.shape.slice(0, -2) : [];
  const out = opts.out ?? Tensor.empty(gpu, [...batchShape, M, N], opts.dtype ?? (a.dtype as FloatDType), 'matmul.out');
  if (out.size !== batch * M * N) throw new ShapeError('matmul out', `must hold ${batch * M * N} values, has ${out.size}`);
  recordGemm(gpu, {
    name: 'matmul', a, b, out, M, N, K, batch,
    strideA: aBatched ? M * K : 0, strideB: bBatched ? K * N : 0,
    transA, transB, epilogue: opts, variant: opts.variant,
  });
  return out;
}

export interface LinearOptions extends GemmEpilogue {
  variant?: MatmulVariant;
  out?: Tensor;
  /** dtype of a newly allocated output (default: x's dtype). */
  dtype?: FloatDType;
}

/**
 * torch.nn.Linear: y = x·Wᵀ (+ bias), with x [..., in] (any leading dims), weight [out, in] as
 * stored by PyTorch, and the fused epilogue (GELU, per-column scale, residual). Returns [..., out].
 * Weights may be f16 (converted once at load) while x and y stay f32.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  const gpu = x.gpu;
  if (weight.shape.length !== 2) throw new ShapeError('linear weight', `must be [out_features, in_features], got [${weight.shape.join(', ')}]`);
  const [N, K] = weight.shape;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== K) {
    throw new ShapeError('linear input', `last dimension must be in_features = ${K} (weight [${N}, ${K}]), got [${x.shape.join(', ')}]`);
  }
  const lead = x.shape.slice(0, -1);
  const M = K === 0 ? lead.reduce((p, d) => p * d, 1) : x.size / K;
  const out = opts.out ?? Tensor.empty(gpu, [...lead, N], opts.dtype ?? (x.dtype as FloatDType), 'linear.out');
  if (out.size !== M * N) throw new ShapeError('linear out', `must hold ${M * N} values ([${[...lead, N].join(', ')}]), has ${out.size}`);
  recordGemm(gpu, {
    name: 'linear', a: x, b: weight, out, M, N, K, batch: 1, strideA: 0, strideB: 0,
    transB: true, epilogue: { ...opts, bias: bias ?? opts.bias }, variant: opts.variant,
  });
  return out;
}
