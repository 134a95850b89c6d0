// Shared WGSL snippets. Kernel files import these instead of repeating them (house style: no
// copy-paste between kernels).

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
