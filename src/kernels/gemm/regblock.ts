// 'regblock' (software adapters): each invocation owns an 8×4 block of C held in registers and
// streams A and B from storage with no workgroup memory. On CPU adapters (lavapipe, SwiftShader)
// workgroup memory is plain RAM plus barriers that serialise the SIMD lanes, so skipping it is 2-4×
// faster; the 8×4 block gives 128 FMAs per 12 vec4 loads.
import { BLOCK_INDEX, storeRows } from './generator.js';
import { patchRows } from './patch.js';
import type { GemmKey } from './types.js';

/** Register-blocked shape: 8 rows × 4 columns per invocation, 64 invocations along the columns. */
// Measured on lavapipe (1024³): 4×4 with 8×8 invocations 6.2 GFLOP/s, 8×4 with 64×1 7.6; a 32-float
// accumulator still fits AVX-512 registers, and 64 consecutive column blocks read B rows contiguously.
export const RB_TM = 8;
export const RB_WG = 64;

export function regblockBody(k: GemmKey): string {
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

