// Shared WGSL snippets. Kernel files import these instead of repeating them (house style: no
// copy-paste between kernels).
import { ShaderError, ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';

/**
 * erf with max abs error 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), so exact-erf GELU matches
 * PyTorch's f32 result to ~1 ulp of its output scale. WGSL has no erf builtin.
 */
export const WGSL_ERF = /* wgsl */ `
fn erf_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, x >= 0.0);
}
fn gelu_f32(x: f32) -> f32 {
  return 0.5 * x * (1.0 + erf_f32(x * 0.7071067811865476));
}
`;

/** A uniform struct declaration from field names (all u32), padded to a 16-byte multiple. */
export function wgslParamsStruct(name: string, fields: readonly string[]): { code: string; bytes: number } {
  const padded = [...fields];
  while (padded.length % 4 !== 0) padded.push(`_pad${padded.length}`);
  return { code: `struct ${name} {\n${padded.map((f) => `  ${f}: u32,`).join('\n')}\n}\n`, bytes: padded.length * 4 };
}

/** Packs u32 uniform values in declaration order (padding zeros). */
export function packParams(bytes: number, values: readonly number[]): Uint32Array {
  const out = new Uint32Array(bytes / 4);
  out.set(values);
  return out;
}

/** Storage binding declaration. */
export function wgslStorage(binding: number, name: string, type: string, access: 'read' | 'read_write'): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: ${type};\n`;
}

// ---- Row reductions, grid folding and f16 storage (norm/attention/misc kernels) ----

/**
 * Workgroup-wide sum and max over `size` invocations (a power of two) through workgroup memory:
 * `wg_sum(v, lid)` / `wg_max(v, lid)` return the total to every invocation. Call them from uniform
 * control flow only (they contain barriers). `type` may be a vector (component-wise: several rows
 * reduced at once).
 */
export function wgslWorkgroupReduce(size: number, type = 'f32'): string {
  if (size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`workgroup reduce size must be a power of two, got ${size}`);
  const fn = (name: string, op: (a: string, b: string) => string) => /* wgsl */ `
fn ${name}(v: ${type}, lid: u32) -> ${type} {
  red_buf[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_buf[lid] = ${op('red_buf[lid]', 'red_buf[lid + s]')}; }
    workgroupBarrier();
  }
  let r = red_buf[0];
  workgroupBarrier(); // the buffer is reused by the next reduction
  return r;
}`;
  return `var<workgroup> red_buf: array<${type}, ${size}>;\n` + fn('wg_sum', (a, b) => `${a} + ${b}`) + fn('wg_max', (a, b) => `max(${a}, ${b})`) + '\n';
}

/** `enable subgroups;` for kernels that use subgroup builtins (a directive: must lead the module, like wgslEnableF16). */
export function wgslEnableSubgroups(used: boolean): string {
  return used ? 'enable subgroups;\n' : '';
}

/**
 * Workgroup-wide sum and max through subgroups (pair with wgslEnableSubgroups): subgroupAdd/Max
 * inside each subgroup, then one workgroup-memory step across the subgroups (one partial per
 * subgroup, combined serially in subgroup order, so every invocation gets the same, run-to-run
 * deterministic value). Correct for any workgroup `size` >= 1 and any subgroup size and layout:
 * WGSL does not tie subgroups to local_invocation_index, and a subgroup may be larger than the
 * workgroup or partial (a workgroup that is not a multiple of it), so nothing here assumes
 * lid / subgroup_size — `sg_init` counts each subgroup's slot and its lanes' ranks once.
 *
 * Defines (the reductions have wgslWorkgroupReduce's names and signatures, so a body serves both):
 * - `sg_init(lid)`: call once per workgroup, in uniform control flow, before anything below. Sets
 *   the private `sg_id` (this subgroup's index, 0 … sg_count-1, in order of its smallest lid),
 *   `sg_count` (subgroups in the workgroup), `sg_lane` (rank among the subgroup's active
 *   invocations) and `sg_lanes` (its active invocations: the stride when lanes split a loop; the
 *   subgroup_size builtin overstates it for a partial subgroup).
 * - `wg_sum(v: T, lid: u32) -> T` and `wg_max(v: T, lid: u32) -> T` for `type` T (f32, i32, u32 or
 *   a vector of them: component-wise); `wg_sum_X` / `wg_max_X` for each X in `extraTypes`. Call them
 *   from uniform control flow (they contain barriers).
 */
export function wgslSubgroupReduce(size: number, type = 'f32', extraTypes: readonly string[] = []): string {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`subgroup reduce size must be a positive integer, got ${size}`);
  const set = (T: string, sfx: string) => {
    // A subgroup has at least one invocation, so `size` slots always suffice.
    const one = (name: string, op: string, combine: (a: string, b: string) => string) => /* wgsl */ `
fn wg_${name}${sfx}(v: ${T}, lid: u32) -> ${T} {
  let s = ${op}(v);
  if (sg_lane == 0u) { sg_part${sfx}[sg_id] = s; }
  workgroupBarrier();
  var r = sg_part${sfx}[0];
  for (var i = 1u; i < sg_count; i++) { r = ${combine('r', `sg_part${sfx}[i]`)}; }
  workgroupBarrier(); // the slots are reused by the next reduction
  return r;
}`;
    return `var<workgroup> sg_part${sfx}: array<${T}, ${size}>;` + one('sum', 'subgroupAdd', (a, b) => `${a} + ${b}`) + one('max', 'subgroupMax', (a, b) => `max(${a}, ${b})`) + '\n';
  };
  for (const X of extraTypes) if (!/^\w+$/.test(X)) throw new RangeError(`extra reduce types must be identifiers (f32, i32, vec4f, ...), got '${X}'`);
  return /* wgsl */ `var<private> sg_id: u32;
var<private> sg_count: u32;
var<private> sg_lane: u32;
var<private> sg_lanes: u32;
var<workgroup> sg_first: array<u32, ${size}>;
fn sg_init(lid: u32) {
  sg_lane = subgroupExclusiveAdd(1u);
  sg_lanes = subgroupAdd(1u);
  let first = subgroupMin(lid);
  sg_first[lid] = select(0u, 1u, lid == first); // marks one invocation per subgroup
  workgroupBarrier();
  var below = 0u;
  var total = 0u;
  for (var i = sg_lane; i < ${size}u; i += sg_lanes) {
    total += sg_first[i];
    below += select(0u, sg_first[i], i < first);
  }
  sg_id = subgroupAdd(below);
  sg_count = subgroupAdd(total);
}
` + set(type, '') + extraTypes.map((X) => set(X, `_${X}`)).join('');
}

/**
 * The pieces of a row-reduction kernel for its variant, so one WGSL body serves all three: 'row'
 * (one invocation per row, serial loops), 'workgroup' / 'subgroup' (one `size`-wide workgroup per
 * row through wgslWorkgroupReduce / wgslSubgroupReduce; 'subgroup' also needs wgslEnableSubgroups).
 * Inside wgslFoldedMain(size): `row` is the row index, `init` must open the row's code (after a
 * uniform early return), `loop(i, n)` is a for-header over i in [0, n) split across the row's
 * invocations, and `sum(e)` / `max(e)` are the row totals of per-invocation partials e (call
 * them from uniform control flow). `code` holds the reduction's declarations (none for 'row').
 */
export function wgslRowLoop(variant: 'row' | 'workgroup' | 'subgroup', size: number, type = 'f32'): { code: string; row: string; init: string; loop: (i: string, n: string) => string; sum: (e: string) => string; max: (e: string) => string } {
  if (variant === 'row') return { code: '', row: 'gid', init: '', loop: (i, n) => `for (var ${i} = 0u; ${i} < ${n}; ${i}++)`, sum: (e) => e, max: (e) => e };
  const sub = variant === 'subgroup';
  return {
    code: sub ? wgslSubgroupReduce(size, type) : wgslWorkgroupReduce(size, type),
    row: 'wg_id',
    init: sub ? 'sg_init(lid);' : '',
    loop: (i, n) => `for (var ${i} = lid; ${i} < ${n}; ${i} += ${size}u)`,
    sum: (e) => `wg_sum(${e}, lid)`,
    max: (e) => `wg_max(${e}, lid)`,
  };
}

/** Launcher check: a subgroup variant needs the device's `subgroups` feature. */
export function checkSubgroups(gpu: { subgroups: boolean }, variant: string, what: string): void {
  if (variant.includes('subgroup') && !gpu.subgroups) {
    throw new ShaderError(what, `variant '${variant}' needs the 'subgroups' feature, which this device lacks`, { hint: 'omit the variant option to let the device choose' });
  }
}

/**
 * Splits a 1-D count of workgroups into [x, y] with x <= max (the per-dimension limit), so large
 * grids still dispatch; kernels recover the linear id as `wid.y * nwg.x + wid.x` and must skip ids
 * >= count (the last row of the fold may be partial).
 */
export function foldWorkgroups(count: number, max: number): [number, number] {
  if (count <= max) return [count, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}

/** `enable f16;` when any storage binding of the kernel is f16 (must lead the module). */
export function wgslEnableF16(used: boolean): string {
  return used ? 'enable f16;\n' : '';
}

/**
 * WGSL storage element type for a float tensor bound `vec4`-wide or scalar: f32 / vec4f, or
 * f16 / vec4<f16> (values are widened to f32 on load and narrowed on store).
 */
export function wgslFloatType(dtype: 'f32' | 'f16', vec4: boolean): string {
  const s = dtype === 'f16' ? 'f16' : 'f32';
  return vec4 ? `vec4<${s}>` : s;
}

/** Float storage dtypes of the norm/elementwise kernels. */
export type FloatDType = 'f32' | 'f16';

/**
 * Read-only scalar array of a backward-kernel input that may be stored as f16 (mixed-precision
 * training saves some activations and weight copies in f16). Kernels load it as `f32(NAME[i])`,
 * the identity for f32, so both dtypes run the same f32 math; pair with wgslEnableF16.
 */
export function wgslReadArray(binding: number, name: string, dtype: FloatDType): string {
  return wgslStorage(binding, name, `array<${wgslFloatType(dtype, false)}>`, 'read');
}

/**
 * `fn ldx(rowBase, x, c) -> T`: channel c of pixel x in an NHWC row that starts at pixel rowBase,
 * zero outside [0, width) — the zero padding of the depthwise conv and its weight gradient. The
 * address is clamped so the (discarded) out-of-range load stays in bounds.
 */
export function wgslPaddedRowLoad(array: string, T: string, width: string, stride: string): string {
  return /* wgsl */ `
fn ldx(rowBase: u32, x: i32, c: u32) -> ${T} {
  return select(${T}(0.0), ${T}(${array}[(rowBase + u32(clamp(x, 0, i32(${width}) - 1))) * ${stride} + c]), x >= 0 && x < i32(${width}));
}
`;
}

/**
 * A WGSL generator that returns the same result for the same (JSON-serialisable) arguments. For
 * the fully unrolled kernels (the 7×7 depthwise tile is 75 KB of WGSL, ~0.9 ms to build) and the
 * GEMM family (16–62 µs per key, ~100 GEMMs per image-tower pass): building per dispatch cost CPU a
 * real GPU waits on, and a reused string keeps its hash for the pipeline cache.
 */
export function cachedWgsl<A extends unknown[], R = string>(generate: (...args: A) => R): (...args: A) => R {
  const cache = new Map<string, R>();
  return (...args: A) => {
    const key = JSON.stringify(args);
    let code = cache.get(key);
    if (code === undefined) {
      code = generate(...args);
      cache.set(key, code);
    }
    return code;
  };
}

/** Launcher check for gradients (and other operands kept f32 even in mixed precision). */
export function checkF32Tensor(t: { dtype: string; shape: readonly number[] }, what: string): void {
  if (t.dtype !== 'f32') throw new ShapeError(what, `must be f32 (gradients stay f32 in mixed precision), got ${t.dtype} [${t.shape.join(', ')}]`);
}

/** Launcher check: a float tensor, and f16 only where the adapter has shader-f16. */
export function checkFloatTensor(gpu: { f16: boolean }, t: { dtype: string; shape: readonly number[] }, what: string): void {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(what, `must be f32 or f16, got ${t.dtype} [${t.shape.join(', ')}]`);
  if (t.dtype === 'f16' && !gpu.f16) throw new ShapeError(what, 'is f16 but this adapter has no shader-f16', { hint: 'use f32 tensors on this adapter' });
}

/** The IEEE bits of an f32 value, for float fields of the all-u32 uniform blocks (read with bitcast<f32>). */
export function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

/**
 * Opens `main` for a grid folded by foldWorkgroups: defines `wg_id` (linear workgroup id), `lid`
 * (local index) and `gid` (linear invocation id = wg_id · size + lid). The caller closes the brace
 * and must bounds-check: the fold's last row may overshoot.
 */
export function wgslFoldedMain(size: number): string {
  return /* wgsl */ `
@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg_id = wid.y * nwg.x + wid.x;
  let gid = wg_id * ${size}u + lid;
`;
}

// ---- Simple one-invocation-per-item launches (backward kernels) ----

/**
 * Records a kernel whose WGSL opens with wgslFoldedMain(64) over `items` invocations: folds the
 * grid, packs the all-u32 uniform block and binds storage in order (last `writes` bindings
 * read_write). Used by the backward kernels, which are simple per-element / per-row loops.
 */
export function dispatchItems(
  gpu: Gpu,
  name: string,
  code: string,
  bindings: readonly Tensor[],
  writes: number,
  params: { bytes: number },
  values: readonly number[],
  items: number,
): void {
  if (items <= 0) return;
  const storage = bindings.map((_, i) => (i >= bindings.length - writes ? 'read_write' : 'read') as 'read' | 'read_write');
  gpu.dispatch({
    kernel: { name, code, storage, uniformBytes: params.bytes },
    bindings,
    uniforms: packParams(params.bytes, values),
    workgroups: foldWorkgroups(Math.ceil(items / 64), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
