// The tiled GEMM generator (real GPUs): one 16×16 workgroup computes a TM×TN tile of C from
// K-slices of TK values staged in workgroup memory; each invocation owns (TM/16)×(TN/16) outputs
// in registers. Tile sizes, buffering, load width and arithmetic type are parameters (TiledConfig);
// the variants 'tiled', 'tiled128', 'tiled128-f16' and split-K's partial kernel are configs of it.
//
// Workgroup memory layout: both slices are stored k-major as vec4 rows — tA[k][m/4] (A transposed)
// and tB[k][n/4] — so the inner loop reads one vec4 of 4 rows and one vec4 of 4 columns per k.
// An invocation's rows are 4-row groups spaced 64 apart (rows 4·ly.. and 64 + 4·ly..), likewise its
// columns: the 16 invocations of a half-warp then read 16 consecutive vec4 (no bank conflicts)
// and the other index is a broadcast. Loads that run along k (A rows/patches, B with transB) give
// each invocation one row and 4 consecutive k; its transposed stores (4 scalars) from consecutive
// invocations hit consecutive words, so no padding is needed and the budget below stays exact.
//
// Workgroup memory budget (16 KiB is the WebGPU guaranteed maxComputeWorkgroupStorageSize):
//   tiled         1 buffer  × (64×16 + 16×64)   × 4 B =  8 KiB
//   tiled128      2 buffers × (128×8 + 8×128)   × 4 B = 16 KiB   (TK = 8: f32 at TK 16 would be 32 KiB)
//   tiled128-f16  2 buffers × (128×16 + 16×128) × 2 B = 16 KiB   (f16 staging buys back TK = 16)
//   splitk        1 buffer  × (64×16 + 16×128)  × 4 B = 12 KiB
// Selection (select.ts) and the launcher check `tiledWorkgroupBytes` against gpu.limits.
//
// Double buffering: iteration i loads slice i from global memory into registers, computes slice
// i-1 from one buffer while those loads are in flight, then stores slice i into the other buffer;
// one barrier per slice suffices (the buffer written in iteration i was last read in iteration
// i-1, which ended with a barrier). Single-buffered configs load, barrier, compute, barrier.
//
// f16 arithmetic ('tiled128-f16', only for f16 A and B): the operands are staged as f16; each
// output's products over a run of F16_RUN = 4 consecutive k are multiplied and summed in f16
// (vec4<f16> multiply-adds: every product and partial sum rounded to f16), and every run's f16
// partial is added into an f32 accumulator — so the K/4 run sums and the epilogue (bias, GELU's
// erf, scale, residual) are f32. Measured on lavapipe against a float64 reference on the same f16
// operands (M = N = 128, uniform [-1, 1) inputs), max |error| / max |C| (and max elementwise
// relative error where |C| > 0.1 max |C|):
//   K = 512: 4.3e-4 (3.6e-3)   K = 768: 3.8e-4 (2.5e-3)   K = 3072: 3.4e-4 (2.9e-3)
//   (f32 arithmetic on the same operands, 'tiled128': ≤ 1.9e-6; runs of 1 / 2 / 8: ~2.0 / 3.2 /
//   4.8e-4 — the f16 rounding of each product alone is half of the error)
// inside the 2e-3 · max |C| tolerance of the f16 tests. f16 overflows past 65504: a run's products
// must stay below ~16k (activations of a few hundred against weights ≪ 1 do).
import type { GemmKey } from './types.js';
import { BLOCK_INDEX, storeRows } from './generator.js';

export interface TiledConfig {
  /** Workgroup tile: TM rows × TN columns of C (multiples of 64; each invocation computes TM/16 × TN/16). */
  tm: number;
  tn: number;
  /** K values per workgroup-memory slice (TM·TK and TN·TK must be multiples of 1024: whole vec4 loads per invocation). */
  tk: number;
  /** Two slice buffers: load slice k+1 while computing slice k, one barrier per slice. */
  doubleBuffer: boolean;
  /** vec4 global loads where the key's vecA / vecB allow (else 4 scalar loads per unit). */
  vecLoads: boolean;
  /** f16 staging and f16 products summed over runs of this many k before the f32 accumulators (0: all f32). */
  f16Run: number;
  /** Split-K partial kernel: grid slice `sl` covers k in [sl·kChunk, (sl+1)·kChunk) and writes f32 partials (no epilogue). */
  kSplit: boolean;
}

/** The classic shape (unchanged numerics: every output sums its products in k order in f32). */
export const TILED: TiledConfig = { tm: 64, tn: 64, tk: 16, doubleBuffer: false, vecLoads: false, f16Run: 0, kSplit: false };
export const TILED128: TiledConfig = { tm: 128, tn: 128, tk: 8, doubleBuffer: true, vecLoads: true, f16Run: 0, kSplit: false };
export const F16_RUN = 4;
export const TILED128_F16: TiledConfig = { tm: 128, tn: 128, tk: 16, doubleBuffer: true, vecLoads: true, f16Run: F16_RUN, kSplit: false };
/**
 * Split-K partials: small M is why split-K is chosen, so 64 rows (less padding waste at M = 77);
 * 128 columns (4×8 per invocation) because the 64×64 shape's fully unrolled K loop took llvmpipe
 * 3× longer to compile; single-buffered, as 2 × (64 + 128) × 16 × 4 B would exceed 16 KiB.
 */
export const SPLITK_TILE: TiledConfig = { tm: 64, tn: 128, tk: 16, doubleBuffer: false, vecLoads: true, f16Run: 0, kSplit: true };

/** Workgroup memory the config declares, in bytes. */
export function tiledWorkgroupBytes(c: TiledConfig): number {
  return (c.doubleBuffer ? 2 : 1) * (c.tm + c.tn) * c.tk * (c.f16Run ? 2 : 4);
}

const WG = 16; // invocations per workgroup side
const T = WG * WG;
const XYZW = 'xyzw';

/**
 * Global → register → workgroup staging of one operand's slice. `kMajor`: the operand runs along
 * k in memory (A rows / patches, B with transB): invocation t owns one tile row (t % TILE) and
 * loads 4 consecutive k per unit, stored transposed; otherwise it owns 4 consecutive tile rows
 * (columns of B) at one k per unit, stored as one vec4.
 */
interface Operand {
  /** Declarations before the K loop. */
  setup: string;
  /** Loads the slice starting at k0 into the registers. */
  load: (k0: string) => string;
  /** Stores the registers into buffer offset `buf` (a slice index offset). */
  store: (buf: string) => string;
}

function operand(c: TiledConfig, k: GemmKey, which: 'A' | 'B'): Operand {
  const isA = which === 'A';
  const tile = isA ? c.tm : c.tn;
  const S = c.f16Run ? 'f16' : 'f32';
  const V = `vec4<${S}>`;
  const units = (tile * c.tk) / 4 / T;
  const kMajor = isA ? k.aLayout !== 'cols' : k.transB;
  const vec = c.vecLoads && (isA ? k.vecA : k.vecB);
  const x = which.toLowerCase(); // register / variable prefix
  const wgArr = `t${which}`;
  const extent = isA ? 'p.M' : 'p.N';
  const origin = isA ? 'rowT' : 'colT';
  // A vec4 (i % 4 == 0) or scalar element of the operand, in the staging type.
  // (f16 staging of an f32 operand — math 'f16' — converts the widened vec4.)
  const stored = isA ? k.tA : k.tB;
  const ld4 = (i: string) => (S === 'f16' ? (stored === 'f16' ? `${which}[(${i}) >> 2u]` : `vec4<f16>(ld4_${which}(${i}))`) : `ld4_${which}(${i})`);
  const ld1 = (i: string) => `${S}(ld_${which}(${i}))`;
  const regs = [...Array(units).keys()];
  const decl = regs.map((u) => `var ${x}r${u} = ${V}(0.0);`).join(' ');
  if (kMajor) {
    // Element (row, k): A rows / patches via aRow/aSeg, B rows of a [N, K] weight.
    const at = (kk: string) => (isA && k.aLayout === 'patch' ? `${x}row + aSeg((${kk}) / p.segLen) + (${kk}) % p.segLen` : `${x}row + ${kk}`);
    const rowStart = isA ? `aRow(b * p.strideA, min(${x}g, p.M - 1u))` : `b * p.strideB + min(${x}g, p.N - 1u) * p.K`;
    const setup = `let ${x}m = t % ${tile}u; let ${x}g = ${origin} + ${x}m; let ${x}ok = ${x}g < ${extent};
  let ${x}row = ${rowStart};
  ${decl}`;
    // Unit u covers k = k0 + 4·(t / TILE + u·T / TILE) .. +3.
    const kq = (u: number) => `(t / ${tile}u + ${(u * T) / tile}u)`;
    const load = (k0: string) =>
      regs.map((u) => {
        const kk = `${x}k${u}`;
        const body = vec
          ? `if (${x}ok && ${kk} < kEnd) { ${x}r${u} = ${ld4(at(kk))}; }`
          : [0, 1, 2, 3].map((j) => `if (${x}ok && ${kk} + ${j}u < kEnd) { ${x}r${u}.${XYZW[j]} = ${ld1(at(`${kk} + ${j}u`))}; }`).join(' ');
        return `{ let ${kk} = ${k0} + ${kq(u)} * 4u; ${x}r${u} = ${V}(0.0); ${body} }`;
      }).join('\n      ');
    const store = (buf: string) =>
      regs.map((u) => [0, 1, 2, 3].map((j) => `${wgArr}[${buf} + ${kq(u)} * 4u + ${j}u][${x}m >> 2u][${x}m & 3u] = ${x}r${u}.${XYZW[j]};`).join(' ')).join('\n      ');
    return { setup, load, store };
  }
  // Contiguous along the tile: A transposed ([K, M]) or B as [K, N].
  const q = tile / 4;
  const at = (kk: string, j: string) => (isA ? `b * p.strideA + (${kk}) * p.M + ${x}g + ${j}` : `b * p.strideB + (${kk}) * p.N + ${x}g + ${j}`);
  const setup = `let ${x}q = t % ${q}u; let ${x}g = ${origin} + ${x}q * 4u;
  ${decl}`;
  const kOff = (u: number) => `(t / ${q}u + ${(u * T) / q}u)`;
  const load = (k0: string) =>
    regs.map((u) => {
      const kk = `${x}k${u}`;
      const body = vec
        ? `if (${x}g < ${extent} && ${kk} < kEnd) { ${x}r${u} = ${ld4(at(kk, '0u'))}; }`
        : [0, 1, 2, 3].map((j) => `if (${x}g + ${j}u < ${extent} && ${kk} < kEnd) { ${x}r${u}.${XYZW[j]} = ${ld1(at(kk, `${j}u`))}; }`).join(' ');
      return `{ let ${kk} = ${k0} + ${kOff(u)}; ${x}r${u} = ${V}(0.0); ${body} }`;
    }).join('\n      ');
  const store = (buf: string) => regs.map((u) => `${wgArr}[${buf} + ${kOff(u)}][${x}q] = ${x}r${u};`).join('\n      ');
  return { setup, load, store };
}

/** The WGSL body (entry point `main`) for one config and key. */
export function tiledBody(c: TiledConfig, k: GemmKey): string {
  if (c.tm % 64 || c.tn % 64 || ((c.tm * c.tk) / 4) % T || ((c.tn * c.tk) / 4) % T || (c.f16Run && c.tk % c.f16Run)) {
    throw new Error(`tiled GEMM config ${JSON.stringify(c)} does not tile a 16×16 workgroup`);
  }
  if (c.f16Run && k.tB !== 'f16') throw new Error('f16 arithmetic needs an f16 B (checked by the launcher)');
  const S = c.f16Run ? 'f16' : 'f32';
  const V = `vec4<${S}>`;
  const GM = c.tm / WG / 4; // 4-row groups per invocation
  const GN = c.tn / WG / 4; // 4-column groups per invocation
  const TK = c.tk;
  const A = operand(c, k, 'A');
  const B = operand(c, k, 'B');
  const rows = [...Array(GM * 4).keys()];
  const cols = [...Array(GN).keys()];
  const acc = (i: number, j: number) => `acc${i}_${j}`;
  // One k step: read GM vec4 of A (4 rows each) and GN vec4 of B (4 columns each), outer product.
  const step = (kk: string, into: (i: number, j: number) => string) => `{
        ${[...Array(GM).keys()].map((g) => `let a${g} = tA[cur + ${kk}][${g * WG}u + lid.y];`).join(' ')}
        ${cols.map((g) => `let b${g} = tB[cur + ${kk}][${g * WG}u + lid.x];`).join(' ')}
        ${rows.map((i) => cols.map((j) => `${into(i, j)} += a${i >> 2}.${XYZW[i & 3]} * b${j};`).join(' ')).join('\n        ')}
      }`;
  // f16: one k loop whose run boundary flushes the f16 partials (a nested run loop was unrolled by
  // llvmpipe, doubling its compile time; GPU compilers unroll both forms alike).
  const compute = c.f16Run
    ? `${rows.map((i) => cols.map((j) => `var h${i}_${j} = ${V}(0.0);`).join(' ')).join(' ')}
    for (var kk = 0u; kk < ${TK}u; kk++) {
      ${step('kk', (i, j) => `h${i}_${j}`)}
      if ((kk % ${c.f16Run}u) == ${c.f16Run - 1}u) {
        // f16 products summed over a run of ${c.f16Run} k, then added into the f32 accumulators.
        ${rows.map((i) => cols.map((j) => `${acc(i, j)} += vec4f(h${i}_${j}); h${i}_${j} = ${V}(0.0);`).join(' ')).join('\n        ')}
      }
    }`
    : `for (var kk = 0u; kk < ${TK}u; kk++) ${step('kk', acc)}`;
  const nbuf = c.doubleBuffer ? 2 : 1;
  const kRange = c.kSplit
    ? `
  let kBegin = sl * p.kChunk;
  let kEnd = min(kBegin + p.kChunk, p.K);`
    : `
  let kBegin = 0u;
  let kEnd = p.K;`;
  // Double buffering, rotated so that the load, compute and store code each appear once (a second
  // copy as a prologue tripled llvmpipe's compile time): iteration i loads slice i into registers,
  // computes slice i - 1 from buffer (i - 1) % 2, then stores slice i into buffer i % 2.
  const loop = c.doubleBuffer
    ? `for (var i = 0u; i <= nk; i++) {
    let k0 = kBegin + i * ${TK}u;
    if (i < nk) {
      ${A.load('k0')}
      ${B.load('k0')}
    }
    if (i > 0u) {
      let cur = ((i - 1u) & 1u) * ${TK}u;
      ${compute}
    }
    if (i < nk) {
      let nxt = (i & 1u) * ${TK}u;
      ${A.store('nxt')}
      ${B.store('nxt')}
    }
    workgroupBarrier();
  }`
    : `for (var s = 0u; s < nk; s++) {
    let k0 = kBegin + s * ${TK}u;
    {
      ${A.load('k0')}
      ${B.load('k0')}
      ${A.store('0u')}
      ${B.store('0u')}
    }
    workgroupBarrier();
    let cur = 0u;
    ${compute}
    workgroupBarrier();
  }`;
  // Split-K: slice sl of the grid's (slice, batch, row block) index; partials go to batch sl·batch + b.
  const blockIndex = c.kSplit
    ? `
  let blk = wid.y + wid.z * nwg.y;
  let perSlice = p.rowBlocks * p.batch;
  if (blk >= perSlice * p.slices) { return; }
  let sl = blk / perSlice;
  let sb = blk - sl * perSlice;
  let b = sb / p.rowBlocks;
  let rblk = sb - b * p.rowBlocks;`
    : BLOCK_INDEX;
  const cBatch = c.kSplit ? 'sl * p.batch + b' : 'b';
  // The GM×GN 4×4 quadrants go through one loop, so the epilogue (GELU's erf above all) is
  // compiled once: unrolled per quadrant it doubled llvmpipe's compile time.
  const quads = GM * GN;
  const stores = `let accq = array<array<vec4f, 4>, ${quads}>(${[...Array(GM).keys()].flatMap((g) => cols.map((j) => `array<vec4f, 4>(${[0, 1, 2, 3].map((i) => acc(g * 4 + i, j)).join(', ')})`)).join(', ')});
  for (var q = 0u; q < ${quads}u; q++) {
    let r0 = rowT + (q / ${GN}u) * ${4 * WG}u + lid.y * 4u;
    let c0 = colT + (q % ${GN}u) * ${4 * WG}u + lid.x * 4u;
    if (c0 < p.N) {
      ${storeRows(4, (i) => `accq[q][${i}]`, cBatch)}
    }
  }`;
  return /* wgsl */ `
var<workgroup> tA: array<array<${V}, ${c.tm / 4}>, ${nbuf * TK}>;
var<workgroup> tB: array<array<${V}, ${c.tn / 4}>, ${nbuf * TK}>;

@compute @workgroup_size(${WG}, ${WG}, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {${blockIndex}
  let rowT = rblk * ${c.tm}u;
  let colT = wid.x * ${c.tn}u;
  let t = lid.y * ${WG}u + lid.x;${kRange}
  let nk = (kEnd - min(kBegin, kEnd) + ${TK - 1}u) / ${TK}u;
  ${A.setup}
  ${B.setup}
  ${rows.map((i) => cols.map((j) => `var ${acc(i, j)} = vec4f(0.0);`).join(' ')).join(' ')}
  ${loop}
  ${stores}
}
`;
}
