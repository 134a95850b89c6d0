import { ShapeError } from '../errors.js';
import { f16ToF32Array, f32ToF16Array } from '../io/half.js';

export type DType = 'f32' | 'f16' | 'i32' | 'u32';
export type TypedArrayFor<D extends DType> = D extends 'f16' ? Uint16Array : D extends 'i32' ? Int32Array : D extends 'u32' ? Uint32Array : Float32Array;
export type HostArray = Float32Array | Uint16Array | Int32Array | Uint32Array;

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };
/** WGSL scalar type of each storage dtype. */
export const WGSL_TYPE: Record<DType, string> = { f32: 'f32', f16: 'f16', i32: 'i32', u32: 'u32' };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: readonly number[], what = 'tensor'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(what, `shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
}

export function allocHost(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'f32': return new Float32Array(n);
    case 'f16': return new Uint16Array(n);
    case 'i32': return new Int32Array(n);
    case 'u32': return new Uint32Array(n);
  }
}

export function hostView(dtype: DType, buf: ArrayBuffer, n: number): HostArray {
  switch (dtype) {
    case 'f32': return new Float32Array(buf, 0, n);
    case 'f16': return new Uint16Array(buf, 0, n);
    case 'i32': return new Int32Array(buf, 0, n);
    case 'u32': return new Uint32Array(buf, 0, n);
  }
}

// binary16 conversions live in one place (src/io/half.ts); re-exported for the GPU side.
export { f16BitsToF32, f32ToF16Bits } from '../io/half.js';

export function toF16Array(src: ArrayLike<number>): Uint16Array {
  return f32ToF16Array(src instanceof Float32Array ? src : Float32Array.from(src));
}

export function fromF16Array(src: Uint16Array): Float32Array {
  return f16ToF32Array(src);
}
