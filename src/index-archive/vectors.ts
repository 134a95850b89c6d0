// Storage-dtype helpers shared by the index reader, merge, search and zero-shot.
import { fromF16Array } from '../gpu/dtype.js';

/** f16 bits → f32 (exact), f32 → a copy-free view. */
export function toFloat32Rows(data: Uint16Array | Float32Array): Float32Array {
  return data instanceof Uint16Array ? fromF16Array(data) : data;
}

/** L2 norms of the rows of a [rows, dim] matrix in storage dtype (float64 sums, rounded once). */
export function rowNorms(data: Uint16Array | Float32Array, rows: number, dim: number): Float32Array {
  const out = new Float32Array(rows);
  const chunk = 4096;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r1 = Math.min(rows, r0 + chunk);
    const f = toFloat32Rows(data.subarray(r0 * dim, r1 * dim));
    for (let r = r0; r < r1; r++) {
      let s = 0;
      for (let k = 0, o = (r - r0) * dim; k < dim; k++) s += f[o + k]! * f[o + k]!;
      out[r] = Math.sqrt(s);
    }
  }
  return out;
}
