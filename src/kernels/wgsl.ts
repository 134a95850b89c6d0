// Shared WGSL snippets. Kernel files import these instead of repeating them (house style: no
// copy-paste between kernels).
import { ShapeError } from '../errors.js';
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
 * control flow only (they contain barriers).
 */
export function wgslWorkgroupReduce(size: number): string {
  if (size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`workgroup reduce size must be a power of two, got ${size}`);
  const fn = (name: string, op: (a: string, b: string) => string) => /* wgsl */ `
fn ${name}(v: f32, lid: u32) -> f32 {
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
  return `var<workgroup> red_buf: array<f32, ${size}>;\n` + fn('wg_sum', (a, b) => `${a} + ${b}`) + fn('wg_max', (a, b) => `max(${a}, ${b})`) + '\n';
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
 * A WGSL generator that returns the same string for the same (JSON-serialisable) arguments. For
 * the fully unrolled kernels (the 7×7 depthwise tile is 75 KB of WGSL, ~0.9 ms to build): building
 * it per dispatch cost more CPU than the dispatch, and a reused string keeps its hash for the
 * pipeline cache.
 */
export function cachedWgsl<A extends unknown[]>(generate: (...args: A) => string): (...args: A) => string {
  const cache = new Map<string, string>();
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
