// Random-access byte sources and the TensorSource abstraction shared by all weight formats.
import { WeightsFormatError } from '../errors.js';
import type { DType, HostTensor } from './dtype.js';

/**
 * Random access to a file's bytes without holding it: an in-memory buffer (browser, Deno, tests)
 * or a Node file handle with positional reads (src/io/file-node.ts).
 */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** Label for error messages (a path or URL). */
  readonly label: string;
  /** Exactly `length` bytes at `offset`; callers check the range against `size` first. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Every ByteSource checks a read against the file size before touching any bytes. */
export function checkRange(label: string, size: number, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new WeightsFormatError(label, `read of ${length} bytes at offset ${offset} is outside the ${size}-byte file`, { hint: 'the file is truncated or corrupt' });
  }
}

/** A ByteSource over bytes already in memory. `read` returns views (no copies). */
export function memoryByteSource(bytes: Uint8Array, label = '<memory>'): ByteSource {
  return {
    size: bytes.byteLength,
    label,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(label, bytes.byteLength, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    async close(): Promise<void> { /* nothing held */ },
  };
}

/**
 * A ByteSource over a Blob — in browsers a `File` from an <input> or drag-and-drop, in Node
 * `fs.openAsBlob(path)`. `blob.slice().arrayBuffer()` reads only the requested range, so a 606 MB
 * checkpoint is never loaded whole.
 */
export function blobByteSource(blob: Blob, label = blob instanceof File ? blob.name : '<blob>'): ByteSource {
  return {
    size: blob.size,
    label,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(label, blob.size, offset, length);
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.byteLength !== length) throw new WeightsFormatError(label, `short read (${bytes.byteLength} of ${length} bytes at ${offset})`, { hint: 'was the file modified while loading?' });
      return bytes;
    },
    async close(): Promise<void> { /* nothing held */ },
  };
}

/** Name, stored element type and shape of one tensor in a weights file. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/**
 * A weights file opened for lazy, tensor-by-tensor reading: only the header / index is parsed up
 * front, and `read` fetches just that tensor's bytes, so a 606 MB file is never held twice.
 */
export interface TensorSource {
  readonly format: 'safetensors' | 'pytorch';
  /** Tensors in file order (state_dict order for PyTorch files). */
  readonly tensors: readonly TensorInfo[];
  /** safetensors `__metadata__` (empty for PyTorch files). */
  readonly metadata: Readonly<Record<string, string>>;
  get(name: string): TensorInfo | undefined;
  /** Reads one tensor (dense, row-major). Unknown names are a WeightsFormatError. */
  read(name: string): Promise<HostTensor>;
  close(): Promise<void>;
}
