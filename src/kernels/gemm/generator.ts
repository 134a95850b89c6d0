// The parts every GEMM variant shares: storage bindings with dtype-aware accessors, A/B
// addressing (rows, transposed columns, convolution patches), and the fused epilogue with its
// guarded row store. A variant's body (regblock.ts, tiled.ts, …) only computes accumulators.
import { packParams, wgslFloatType, wgslParamsStruct, wgslStorage, type FloatDType } from '../wgsl.js';
import type { GemmCall, GemmKey } from './types.js';

export const PARAMS = wgslParamsStruct('Params', [
  'M', 'N', 'K', 'batch', 'strideA', 'strideB', 'strideC', 'rowBlocks',
  'Ho', 'Wo', 'sN', 'sOy', 'sOx', 'segLen', 'segInner', 'segOuterStride', 'segInnerStride',
  // Split-K: K values per slice and the number of slices (K and 1 for every other kernel).
  'kChunk', 'slices',
]);

/** The uniform block of one GEMM dispatch (PARAMS order); a plain matmul is one patch segment per row. */
export function gemmParams(g: GemmCall, rowBlocks: number, slices = 1, kChunk = g.K): Uint32Array {
  const p = g.patch ?? { Ho: 1, Wo: 1, sN: 0, sOy: 0, sOx: 0, segLen: Math.max(g.K, 1), segInner: 1, segOuterStride: 0, segInnerStride: 0 };
  return packParams(PARAMS.bytes, [
    g.M, g.N, g.K, g.batch, g.strideA, g.strideB, g.M * g.N, rowBlocks,
    p.Ho, p.Wo, p.sN, p.sOy, p.sOx, p.segLen, p.segInner, p.segOuterStride, p.segInnerStride,
    kChunk, slices,
  ]);
}

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

/**
 * The kernel's storage bindings in order: A, B (or, for split-K's summing pass, the f32 partials
 * P [slices, batch, M, N]), then the epilogue tensors, C, and the uniforms.
 */
export function bindings(k: GemmKey, inputs: 'operands' | 'partials' = 'operands'): { code: string; storage: ('read' | 'read_write')[] } {
  let code = '';
  const storage: ('read' | 'read_write')[] = [];
  const add = (name: string, dtype: FloatDType, vec: boolean, access: 'read' | 'read_write') => {
    code += floatArray(storage.length, name, dtype, vec, access);
    storage.push(access);
  };
  if (inputs === 'partials') {
    add('P', 'f32', k.vecC, 'read');
  } else {
    add('A', k.tA, k.vecA, 'read');
    add('B', k.tB, k.vecB, 'read');
  }
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
export function addressing(k: GemmKey): string {
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
export function epilogue(k: GemmKey): string {
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

/**
 * Epilogue over `rows` accumulator rows named by `acc(i)` (copied into an array, then a row loop):
 * rows r0.., columns c0..c0+3 of C's batch `cBatch` (split-K partials: slice·batch + b).
 */
export function storeRows(rows: number, acc: (i: number) => string, cBatch = 'b'): string {
  return `let accs = array<vec4f, ${rows}>(${[...Array(rows).keys()].map(acc).join(', ')});
  // A runtime trip count keeps compilers from unrolling the loop (and the epilogue) again.
  // (r0 may lie past M in the tiled variant's edge tiles: no rows then.)
  let nrows = select(0u, min(${rows}u, p.M - r0), r0 < p.M);
  let cols = epilogueCols(c0);
  for (var ri = 0u; ri < nrows; ri++) {
    storeRow(${cBatch}, r0 + ri, c0, accs[ri], cols);
  }`;
}

export /** The (row block, batch) pair of this workgroup: the pair index is folded over y and z. */
const BLOCK_INDEX = /* wgsl */ `
  let blk = wid.y + wid.z * nwg.y;
  if (blk >= p.rowBlocks * p.batch) { return; }
  let b = blk / p.rowBlocks;
  let rblk = blk - b * p.rowBlocks;`;

