// Host-side float32 arrays with a shape: the embeddings the models hand to the task math.
// Tasks are pure CPU arithmetic on these; they never touch GPU buffers.

import { ShapeError } from '../errors.js';

export interface HostArray {
  data: Float32Array;
  shape: readonly number[];
}

/** Checks rank and element count; returns the dims. */
export function dims(x: HostArray, rank: number, name: string): number[] {
  const shape = [...x.shape];
  if (shape.length !== rank) {
    throw new ShapeError(name, `expected a rank-${rank} array, got shape [${shape.join(', ')}]`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || n !== x.data.length) {
    throw new ShapeError(name, `shape [${shape.join(', ')}] does not match ${x.data.length} elements`);
  }
  return shape;
}

/** A [N, T, D] view of video embeddings given as [T, D] (one video) or [N, T, D]. */
export function asVideoBatch(x: HostArray, name = 'video embeddings'): HostArray & { n: number; t: number; d: number } {
  const shape = x.shape.length === 2 ? [1, ...x.shape] : [...x.shape];
  const [n, t, d] = dims({ data: x.data, shape }, 3, name) as [number, number, number];
  if (t === 0) throw new ShapeError(name, 'no frames (T = 0)', { hint: 'select at least one frame' });
  return { data: x.data, shape, n, t, d };
}

/** Dot products of every row of a [A, D] with every row of b [B, D], accumulated in float64. */
export function dotMatrix64(a: Float32Array, rowsA: number, b: Float32Array, rowsB: number, d: number): Float64Array {
  const out = new Float64Array(rowsA * rowsB);
  for (let i = 0; i < rowsA; i++) {
    const ai = i * d;
    for (let j = 0; j < rowsB; j++) {
      const bj = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += a[ai + k]! * b[bj + k]!;
      out[i * rowsB + j] = s;
    }
  }
  return out;
}

/** F.normalize(x, dim=-1): x / max(||x||, 1e-12) per row, in float32. */
export function l2NormalizeRows(x: HostArray, name = 'embeddings'): HostArray {
  const [rows, d] = x.shape.length === 1 ? [1, x.shape[0]!] : [x.data.length / (x.shape[x.shape.length - 1] || 1), x.shape[x.shape.length - 1]!];
  if (!Number.isInteger(rows) || d === 0) throw new ShapeError(name, `cannot normalise shape [${x.shape.join(', ')}]`);
  const out = new Float32Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x.data[r * d + k]! ** 2;
    const norm = Math.max(Math.sqrt(s), 1e-12);
    for (let k = 0; k < d; k++) out[r * d + k] = x.data[r * d + k]! / norm;
  }
  return { data: out, shape: [...x.shape] };
}
