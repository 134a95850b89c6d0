// Tensor element types as the safetensors format names them, and their in-memory representation.
import { WeightsFormatError } from '../errors.js';
import { bf16ToF32Array, f16ToF32Array, f32ToF16Array } from './half.js';

/** Stored element types we understand (safetensors names). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/**
 * Element types of loaded tensors. I64 is narrowed to I32 on load (WGSL has no 64-bit integers);
 * F16/BF16 keep their raw bits in a Uint16Array so the GPU path can upload halves directly.
 */
export type LoadedDType = Exclude<DType, 'I64'>;

export type TensorArray = Float64Array | Float32Array | Uint16Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A tensor in host memory. `data` is dense, row-major (C order). */
export interface HostTensor {
  dtype: LoadedDType;
  shape: number[];
  data: TensorArray;
}

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Product of dims; throws if the byte size would not be a safe integer (hostile headers). */
export function numelOf(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new WeightsFormatError(what, `shape ${JSON.stringify(shape)} has an invalid dimension ${String(d)}`, { hint: 'dimensions must be non-negative integers; the file is corrupt' });
    n *= d;
    if (!Number.isSafeInteger(n * 8)) throw new WeightsFormatError(what, `shape ${JSON.stringify(shape)} is too large`, { hint: 'the file is corrupt' });
  }
  return n;
}

// Typed arrays use the platform byte order; every weights format we read is little-endian.
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function ownedBuffer(bytes: Uint8Array): ArrayBuffer {
  // A view is reused when it owns its whole, aligned buffer (typical for positional file reads);
  // otherwise one copy, which also detaches the result from any larger in-memory file.
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

/**
 * Little-endian bytes of `numel` elements of `dtype` → a HostTensor. I64 values must fit in
 * int32 (token ids, indices); anything else is a typed error rather than silent wrap-around.
 */
export function decodeTensorBytes(dtype: DType, shape: number[], bytes: Uint8Array, what: string): HostTensor {
  if (!littleEndian) throw new WeightsFormatError(what, 'this platform is big-endian', { hint: 'weights are little-endian; run on a little-endian machine' });
  const numel = numelOf(shape, what);
  const expected = numel * DTYPE_SIZE[dtype];
  if (bytes.byteLength !== expected) {
    throw new WeightsFormatError(what, `expected ${expected} bytes of ${dtype} for shape ${JSON.stringify(shape)}, found ${bytes.byteLength}`, { hint: 'the file is truncated or corrupt' });
  }
  const buf = ownedBuffer(bytes);
  switch (dtype) {
    case 'F64': return { dtype, shape, data: new Float64Array(buf, 0, numel) };
    case 'F32': return { dtype, shape, data: new Float32Array(buf, 0, numel) };
    case 'F16': case 'BF16': return { dtype, shape, data: new Uint16Array(buf, 0, numel) };
    case 'I32': return { dtype, shape, data: new Int32Array(buf, 0, numel) };
    case 'I16': return { dtype, shape, data: new Int16Array(buf, 0, numel) };
    case 'I8': return { dtype, shape, data: new Int8Array(buf, 0, numel) };
    case 'U8': case 'BOOL': return { dtype, shape, data: new Uint8Array(buf, 0, numel) };
    case 'I64': {
      const words = new Int32Array(buf, 0, numel * 2);
      const out = new Int32Array(numel);
      for (let i = 0; i < numel; i++) {
        const lo = words[2 * i], hi = words[2 * i + 1];
        // fits in int32 iff the high word is the sign extension of the low word
        if (hi !== (lo >> 31)) {
          const v = BigInt(hi) * 4294967296n + BigInt(lo >>> 0);
          throw new WeightsFormatError(what, `I64 value ${v} at index ${i} does not fit in int32`, { hint: 'only int64 tensors with values in the int32 range are supported' });
        }
        out[i] = lo;
      }
      return { dtype: 'I32', shape, data: out };
    }
  }
}

/** The little-endian bytes of a host tensor (a view, no copy). */
export function tensorBytes(t: { data: TensorArray }): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Any floating tensor → Float32Array (F32 is returned as is, not copied). */
export function toFloat32(t: HostTensor, what = 'tensor'): Float32Array {
  switch (t.dtype) {
    case 'F32': return t.data as Float32Array;
    case 'F16': return f16ToF32Array(t.data as Uint16Array);
    case 'BF16': return bf16ToF32Array(t.data as Uint16Array);
    case 'F64': return Float32Array.from(t.data as Float64Array);
    default: throw new WeightsFormatError(what, `expected a floating-point tensor, found ${t.dtype}`, { hint: 'weights must be F32, F16, BF16 or F64' });
  }
}

/** A floating tensor converted to `dtype` ('F32' or 'F16', round to nearest even). */
export function convertFloat(t: HostTensor, dtype: 'F32' | 'F16', what = 'tensor'): HostTensor {
  if (t.dtype === dtype) return t;
  const f = toFloat32(t, what);
  return dtype === 'F32' ? { dtype, shape: t.shape, data: f } : { dtype, shape: t.shape, data: f32ToF16Array(f) };
}
