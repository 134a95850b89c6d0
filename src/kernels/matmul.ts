// Matrix multiply: C[b] = op(A[b]) · op(B[b]) (+ bias) (→ GELU), f32.
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
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { packParams, WGSL_ERF, wgslParamsStruct, wgslStorage } from './wgsl.js';

export type MatmulVariant = 'regblock' | 'tiled';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Per-column bias [N], added before the activation. */
  bias?: Tensor;
  /** Exact (erf) GELU epilogue. */
  gelu?: boolean;
  /** Force a variant (default: by adapter). */
  variant?: MatmulVariant;
  /** Write into this tensor instead of allocating. */
  out?: Tensor;
}

interface MatmulKey {
  variant: MatmulVariant;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  gelu: boolean;
  /** A bound as vec4 along K (needs !transA and K % 4 == 0). */
  vecA: boolean;
  /** B bound as vec4 along its contiguous axis (N without transB, K with it). */
  vecB: boolean;
  /** C stored as vec4 (N % 4 == 0). */
  vecC: boolean;
}

const PARAMS = wgslParamsStruct('Params', ['M', 'N', 'K', 'batch', 'strideA', 'strideB', 'strideC']);

function bindings(k: MatmulKey): { code: string; storage: ('read' | 'read_write')[] } {
  let code = '';
  const storage: ('read' | 'read_write')[] = [];
  const add = (name: string, type: string, access: 'read' | 'read_write') => {
    code += wgslStorage(storage.length, name, type, access);
    storage.push(access);
  };
  add('A', k.vecA ? 'array<vec4f>' : 'array<f32>', 'read');
  add('B', k.vecB ? 'array<vec4f>' : 'array<f32>', 'read');
  if (k.bias) add('bias', 'array<f32>', 'read');
  add('C', k.vecC ? 'array<vec4f>' : 'array<f32>', 'read_write');
  code += `@group(0) @binding(${storage.length}) var<uniform> p: Params;\n`;
  return { code, storage };
}

/** Scalar element loads that hide the transposes and the vec4 binding. */
function loaders(k: MatmulKey): string {
  const aIdx = k.transA ? 'base + kk * p.M + r' : 'base + r * p.K + kk';
  const bIdx = k.transB ? 'base + c * p.K + kk' : 'base + kk * p.N + c';
  const elem = (arr: string, vec: boolean, idx: string) => (vec ? `let i = ${idx}; return ${arr}[i >> 2u][i & 3u];` : `return ${arr}[${idx}];`);
  return /* wgsl */ `
fn loadA(base: u32, r: u32, kk: u32) -> f32 { ${elem('A', k.vecA, aIdx)} }
fn loadB(base: u32, kk: u32, c: u32) -> f32 { ${elem('B', k.vecB, bIdx)} }
`;
}

/** Bias + activation + guarded store of a 4×4 block held as 4 row vectors. */
function epilogue(k: MatmulKey): string {
  const act = (v: string) => (k.gelu ? `vec4f(gelu_f32(${v}.x), gelu_f32(${v}.y), gelu_f32(${v}.z), gelu_f32(${v}.w))` : v);
  const biasLoad = k.bias ? `let bv = vec4f(bias[min(c0, p.N - 1u)], bias[min(c0 + 1u, p.N - 1u)], bias[min(c0 + 2u, p.N - 1u)], bias[min(c0 + 3u, p.N - 1u)]);` : '';
  const store = k.vecC
    ? `if (c0 + 3u < p.N) { C[(cbase + row * p.N + c0) >> 2u] = v; } else { for (var j = 0u; j < 4u; j++) { if (c0 + j < p.N) { let i = cbase + row * p.N + c0 + j; C[i >> 2u][i & 3u] = v[j]; } } }`
    : `for (var j = 0u; j < 4u; j++) { if (c0 + j < p.N) { C[cbase + row * p.N + c0 + j] = v[j]; } }`;
  return /* wgsl */ `
fn storeBlock(cbase: u32, r0: u32, c0: u32, acc: array<vec4f, ${k.variant === 'regblock' ? RB_TM : 4}>) {
  ${biasLoad}
  for (var i = 0u; i < ${k.variant === 'regblock' ? RB_TM : 4}u; i++) {
    let row = r0 + i;
    if (row >= p.M) { break; }
    let v = ${act(k.bias ? '(acc[i] + bv)' : 'acc[i]')};
    ${store}
  }
}
`;
}

function regblockBody(k: MatmulKey): string {
  const rows = [...Array(RB_TM).keys()];
  // Fast inner step over 4 k at a time when both operands can be read as vec4 along k or n.
  const aVec = (i: number) =>
    k.vecA ? `A[(abase + r${i} * p.K + kk) >> 2u]` : `vec4f(loadA(abase, r${i}, kk), loadA(abase, r${i}, kk + 1u), loadA(abase, r${i}, kk + 2u), loadA(abase, r${i}, kk + 3u))`;
  let step4: string;
  if (k.transB) {
    const bCol = (j: number) =>
      k.vecB ? `B[(bbase + c${j} * p.K + kk) >> 2u]` : `vec4f(loadB(bbase, kk, c${j}), loadB(bbase, kk + 1u, c${j}), loadB(bbase, kk + 2u, c${j}), loadB(bbase, kk + 3u, c${j}))`;
    step4 = `
    let b0 = ${bCol(0)}; let b1 = ${bCol(1)}; let b2 = ${bCol(2)}; let b3 = ${bCol(3)};
    ${rows.map((i) => `{ let a = ${aVec(i)}; acc[${i}] += vec4f(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3)); }`).join('\n    ')}`;
  } else {
    const bRow = (d: number) =>
      k.vecB ? `B[(bbase + (kk + ${d}u) * p.N + c0) >> 2u]` : `vec4f(loadB(bbase, kk + ${d}u, c0), loadB(bbase, kk + ${d}u, c1), loadB(bbase, kk + ${d}u, c2), loadB(bbase, kk + ${d}u, c3))`;
    step4 = `
    let b0 = ${bRow(0)}; let b1 = ${bRow(1)}; let b2 = ${bRow(2)}; let b3 = ${bRow(3)};
    ${rows.map((i) => `{ let a = ${aVec(i)}; acc[${i}] += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3; }`).join('\n    ')}`;
  }
  return /* wgsl */ `
@compute @workgroup_size(${RB_WG[0]}, ${RB_WG[1]}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c0 = gid.x * 4u;
  let r0 = gid.y * ${RB_TM}u;
  let b = gid.z;
  if (c0 >= p.N || r0 >= p.M || b >= p.batch) { return; }
  // Clamp rows/columns so edge blocks load in bounds; their extra results are never stored.
  ${rows.slice(1).map((i) => `let r${i} = min(r0 + ${i}u, p.M - 1u);`).join(' ')}
  let c1 = min(c0 + 1u, p.N - 1u); let c2 = min(c0 + 2u, p.N - 1u); let c3 = min(c0 + 3u, p.N - 1u);
  let abase = b * p.strideA;
  let bbase = b * p.strideB;
  var acc: array<vec4f, ${RB_TM}>;
  let k4 = p.K & ~3u;
  for (var kk = 0u; kk < k4; kk += 4u) {${step4}
  }
  for (var kk = k4; kk < p.K; kk++) {
    let bv = vec4f(loadB(bbase, kk, c0), loadB(bbase, kk, c1), loadB(bbase, kk, c2), loadB(bbase, kk, c3));
    ${rows.map((i) => `acc[${i}] += loadA(abase, r${i}, kk) * bv;`).join('\n    ')}
  }
  storeBlock(b * p.strideC, r0, c0, acc);
}
`;
}

const TILE = 64;
/** Register-blocked workgroup shape (x over columns, y over rows). */
// Register-blocked shape: 8 rows × 4 columns per invocation, 64 invocations along the columns.
// Measured on lavapipe (1024³): 4×4 with 8×8 invocations 6.2 GFLOP/s, 8×4 with 64×1 7.6; a 32-float
// accumulator still fits AVX-512 registers, and 64 consecutive column blocks read B rows contiguously.
const RB_TM = 8;
const RB_WG: readonly [number, number] = [64, 1];
const TK = 16;

function tiledBody(): string {
  // 256 invocations load a 64×16 slice of A and a 16×64 slice of B (4 elements each), then each
  // computes its 4×4 outputs from workgroup memory. Out-of-range elements load as zero.
  return /* wgsl */ `
var<workgroup> tA: array<array<f32, ${TILE}>, ${TK}>;
var<workgroup> tB: array<array<f32, ${TILE}>, ${TK}>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let b = wid.z;
  let rowT = wid.y * ${TILE}u;
  let colT = wid.x * ${TILE}u;
  let abase = b * p.strideA;
  let bbase = b * p.strideB;
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
      tA[kk][m] = select(0.0, loadA(abase, min(gr, p.M - 1u), min(gk, p.K - 1u)), gr < p.M && gk < p.K);
      tB[kk][m] = select(0.0, loadB(bbase, min(gk, p.K - 1u), min(gc, p.N - 1u)), gc < p.N && gk < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      let bv = vec4f(tB[kk][lid.x * 4u], tB[kk][lid.x * 4u + 1u], tB[kk][lid.x * 4u + 2u], tB[kk][lid.x * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] += tA[kk][lid.y * 4u + i] * bv;
      }
    }
    workgroupBarrier();
  }
  let r0 = rowT + lid.y * 4u;
  let c0 = colT + lid.x * 4u;
  if (r0 < p.M && c0 < p.N) { storeBlock(b * p.strideC, r0, c0, acc); }
}
`;
}

/** WGSL for one matmul configuration (exported for tests and the benchmark). */
export function matmulWgsl(k: MatmulKey): { code: string; storage: ('read' | 'read_write')[] } {
  const b = bindings(k);
  const code = PARAMS.code + b.code + (k.gelu ? WGSL_ERF : '') + loaders(k) + epilogue(k) + (k.variant === 'regblock' ? regblockBody(k) : tiledBody());
  return { code, storage: b.storage };
}

export function defaultMatmulVariant(gpu: Gpu): MatmulVariant {
  return gpu.kernelProfile === 'software' ? 'regblock' : 'tiled';
}

function dims(t: Tensor, what: string): { batch: number; r: number; c: number } {
  if (t.shape.length < 2) throw new ShapeError(`matmul ${what}`, `needs at least 2 dimensions, got [${t.shape.join(', ')}]`);
  const r = t.shape[t.shape.length - 2];
  const c = t.shape[t.shape.length - 1];
  return { batch: t.size / Math.max(1, r * c) || 0, r, c };
}

/**
 * C = op(A)·op(B) (+bias) (→GELU). Leading dimensions are batch dimensions; a 2-D operand is
 * broadcast over the other's batch. Returns a new tensor [...batch, M, N] unless `out` is given.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const gpu = a.gpu;
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new ShapeError('matmul', `expects f32 operands, got ${a.dtype} and ${b.dtype}`);
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
  const outShape = [...batchShape, M, N];
  if (opts.bias && (opts.bias.size !== N || opts.bias.dtype !== 'f32')) throw new ShapeError('matmul bias', `must be f32 [${N}], got ${opts.bias.dtype} [${opts.bias.shape.join(', ')}]`);
  const out = opts.out ?? Tensor.empty(gpu, outShape, 'f32', 'matmul.out');
  if (out.size !== batch * M * N) throw new ShapeError('matmul out', `must hold ${batch * M * N} values, has ${out.size}`);
  if (M === 0 || N === 0 || batch === 0) return out;
  if (K === 0 && !opts.bias && !opts.gelu) {
    gpu.recorder.clearBuffer(out.buffer, out.byteOffset, Math.ceil(out.byteLength / 4) * 4);
    return out;
  }
  const variant = opts.variant ?? defaultMatmulVariant(gpu);
  const key: MatmulKey = {
    variant,
    transA,
    transB,
    bias: !!opts.bias,
    gelu: !!opts.gelu,
    vecA: !transA && K % 4 === 0 && a.byteOffset % 16 === 0,
    vecB: (transB ? K % 4 === 0 : N % 4 === 0) && b.byteOffset % 16 === 0,
    vecC: N % 4 === 0 && out.byteOffset % 16 === 0,
  };
  const { code, storage } = matmulWgsl(key);
  const per = variant === 'regblock' ? [RB_WG[0] * 4, RB_WG[1] * RB_TM] : [TILE, TILE];
  const binds = [a, b, ...(opts.bias ? [opts.bias] : []), out];
  gpu.dispatch({
    kernel: { name: `matmul/${variant}`, code, storage, uniformBytes: PARAMS.bytes },
    bindings: binds,
    uniforms: packParams(PARAMS.bytes, [M, N, K, batch, aBatched ? M * K : 0, bBatched ? K * N : 0, M * N]),
    workgroups: [Math.ceil(N / per[0]), Math.ceil(M / per[1]), batch],
  });
  return out;
}
