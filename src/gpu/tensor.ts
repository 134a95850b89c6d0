import { EchoClipError, ShapeError } from '../errors.js';
import type { Gpu } from './device.js';
import { BYTES_PER_ELEMENT, checkShape, fromF16Array, hostView, numel, toF16Array, type DType, type HostArray } from './dtype.js';
import type { Bindable } from './recorder.js';

const STORAGE_USAGE = GPUBufferUsageFlagsConst();

// GPUBufferUsage is a global that only exists once a WebGPU implementation is loaded (Dawn sets
// it up in Node), so read it lazily.
function GPUBufferUsageFlagsConst(): () => number {
  let v = 0;
  return () => (v ||= GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/**
 * A GPU buffer with a shape and a dtype. Owning tensors return their buffer to the device's pool
 * on `release()`; views (`reshape`, `slice0`) share the owner's buffer and never release it.
 */
export class Tensor implements Bindable {
  readonly size: number;
  private released = false;

  private constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** Byte offset into `buffer` (views). */
    readonly byteOffset: number,
    private readonly owner: Tensor | null,
  ) {
    this.size = numel(shape);
  }

  /** Bytes of data (not counting pool rounding). */
  get byteLength(): number {
    return this.size * BYTES_PER_ELEMENT[this.dtype];
  }

  /** An uninitialised tensor from the pool. */
  static empty(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32', label = 'tensor', exact = false): Tensor {
    checkShape(shape, label);
    gpu.assertAlive();
    const bytes = align4(numel(shape) * BYTES_PER_ELEMENT[dtype]);
    const buffer = gpu.pool.acquire(bytes, STORAGE_USAGE(), label, exact);
    return new Tensor(gpu, buffer, [...shape], dtype, 0, null);
  }

  static zeros(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    const t = Tensor.empty(gpu, shape, dtype, label);
    gpu.recorder.clearBuffer(t.buffer, 0, align4(t.byteLength));
    return t;
  }

  /**
   * Uploads host data. f16 tensors accept a Float32Array (converted, round-to-nearest-even) or the
   * raw binary16 bits as a Uint16Array. `exact` allocates exactly (no pool rounding): for weights.
   */
  static from(gpu: Gpu, data: HostArray | readonly number[], shape: readonly number[], dtype?: DType, label = 'tensor', exact = false): Tensor {
    const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : data instanceof Uint16Array ? 'f16' : 'f32');
    const n = numel(shape);
    if (data.length !== n) throw new ShapeError(label, `has ${data.length} values but shape [${shape.join(', ')}] needs ${n}`);
    let host: HostArray;
    if (dt === 'f16') host = data instanceof Uint16Array ? data : toF16Array(data);
    else if (dt === 'f32') host = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    else if (dt === 'i32') host = data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
    else host = data instanceof Uint32Array ? data : Uint32Array.from(data as ArrayLike<number>);
    const t = Tensor.empty(gpu, shape, dt, label, exact);
    t.write(host);
    return t;
  }

  /** Overwrites the tensor's contents with host data of the same element count. */
  write(host: HostArray): void {
    this.assertLive();
    if (host.length !== this.size) throw new ShapeError('tensor write', `got ${host.length} values for a tensor of ${this.size}`);
    // Work recorded but not submitted may still read this (pooled) buffer's old contents, and
    // writeBuffer lands before that submit: submit it first.
    this.gpu.flush();
    const bytes = host.byteLength;
    if (bytes % 4 === 0) {
      this.gpu.queue.writeBuffer(this.buffer, this.byteOffset, host.buffer, host.byteOffset, bytes);
    } else {
      const padded = new Uint8Array(align4(bytes));
      padded.set(new Uint8Array(host.buffer, host.byteOffset, bytes));
      this.gpu.queue.writeBuffer(this.buffer, this.byteOffset, padded);
    }
  }

  /** Downloads the raw contents (f16 as binary16 bits). Submits pending work first. */
  async read(): Promise<HostArray> {
    this.assertLive();
    const gpu = this.gpu;
    const bytes = align4(this.byteLength);
    if (bytes === 0) return hostView(this.dtype, new ArrayBuffer(0), 0);
    const staging = gpu.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    gpu.recorder.copyBuffer(this.buffer, this.byteOffset, staging, 0, bytes);
    gpu.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (e) {
      gpu.assertAlive();
      await gpu.checkErrors();
      throw new EchoClipError('tensor read', `mapping the read-back buffer failed: ${String(e)}`);
    }
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    gpu.pool.release(staging);
    await gpu.checkErrors();
    return hostView(this.dtype, copy, this.size);
  }

  /** Downloads as float32 (f16 converted; integers as numbers). */
  async toFloat32(): Promise<Float32Array> {
    const raw = await this.read();
    if (raw instanceof Float32Array) return raw;
    if (this.dtype === 'f16') return fromF16Array(raw as Uint16Array);
    return Float32Array.from(raw);
  }

  /** Same data, new shape (a view: no copy, never releases the buffer). */
  reshape(shape: readonly number[]): Tensor {
    this.assertLive();
    checkShape(shape, 'reshape');
    if (numel(shape) !== this.size) throw new ShapeError('reshape', `cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
    return new Tensor(this.gpu, this.buffer, [...shape], this.dtype, this.byteOffset, this.owner ?? this);
  }

  /**
   * Rows [start, end) along dimension 0, as a view. The byte offset must meet the device's
   * storage-offset alignment (256 bytes on most adapters).
   */
  slice0(start: number, end: number): Tensor {
    this.assertLive();
    const rows = this.shape[0];
    if (!(start >= 0 && end <= rows && start <= end)) throw new ShapeError('slice0', `rows [${start}, ${end}) outside [0, ${rows})`);
    const rowBytes = (this.size / rows) * BYTES_PER_ELEMENT[this.dtype];
    const off = this.byteOffset + start * rowBytes;
    const align = this.gpu.limits.minStorageBufferOffsetAlignment;
    if (off % align !== 0) throw new ShapeError('slice0', `byte offset ${off} is not a multiple of the device's ${align}-byte storage offset alignment`);
    return new Tensor(this.gpu, this.buffer, [end - start, ...this.shape.slice(1)], this.dtype, off, this.owner ?? this);
  }

  gpuBinding(): GPUBufferBinding {
    this.assertLive();
    return { buffer: this.buffer, offset: this.byteOffset, size: Math.max(4, align4(this.byteLength)) };
  }

  get isReleased(): boolean {
    return this.released || (this.owner?.released ?? false);
  }

  private assertLive(): void {
    if (this.isReleased) throw new EchoClipError('tensor', 'used after release()', { hint: 'keep the tensor until the last kernel that reads it has been recorded' });
  }

  /**
   * Returns the buffer to the pool. Safe right after recording kernels that read it: the pool only
   * hands it out to work recorded later, which the GPU runs later.
   */
  release(): void {
    if (this.owner) return; // views never own their buffer
    if (this.released) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
  }
}
