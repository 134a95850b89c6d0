import { GpuOutOfMemoryError, LimitError } from '../errors.js';

/**
 * Reuses GPU buffers by size class. Creating and destroying buffers is slow on every backend and
 * fragments memory; a model forward allocates the same few sizes over and over, so freed buffers
 * go to a free list keyed by (usage, rounded size) and are handed out again.
 *
 * Sizes round up to a multiple of 256 B below 64 KiB, else to 1/8-power-of-two steps (at most
 * 12.5 % slack), which keeps reuse high without wasting much memory.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  /** Bytes currently allocated from the device (in use or free-listed). */
  allocatedBytes = 0;
  /** Bytes handed out and not yet released. */
  inUseBytes = 0;
  /** High-water mark of allocatedBytes since the last resetPeak(). */
  peakBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    /** Called with a promise that rejects/resolves with an out-of-memory error, if any. */
    private readonly watch: (check: Promise<GPUError | null>, what: string) => void,
  ) {}

  static roundSize(bytes: number): number {
    const b = Math.max(4, bytes);
    if (b <= 65536) return Math.ceil(b / 256) * 256;
    const step = 2 ** (Math.floor(Math.log2(b)) - 3);
    return Math.ceil(b / step) * step;
  }

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = 'buffer'): GPUBuffer {
    const size = BufferPool.roundSize(bytes);
    if (size > this.maxBufferSize) {
      throw new LimitError(label, `needs a ${size}-byte buffer but the device allows at most ${this.maxBufferSize}`, { hint: 'use a smaller batch, f16 weights, or a GPU with more memory' });
    }
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const hit = list?.pop();
    if (hit) {
      this.inUseBytes += size;
      return hit;
    }
    this.device.pushErrorScope('out-of-memory');
    let buffer: GPUBuffer;
    try {
      buffer = this.device.createBuffer({ size, usage, label });
    } catch (e) {
      void this.device.popErrorScope();
      throw new GpuOutOfMemoryError(label, `allocating ${size} bytes failed: ${String(e)}`, { hint: 'free tensors, use a smaller batch or f16 weights' });
    }
    this.watch(this.device.popErrorScope(), `allocating ${size} bytes for ${label}`);
    this.allocatedBytes += size;
    this.inUseBytes += size;
    if (this.allocatedBytes > this.peakBytes) this.peakBytes = this.allocatedBytes;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
    this.inUseBytes -= buffer.size;
  }

  /** Destroys every free-listed buffer (returns memory to the driver). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.allocatedBytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
  }

  resetPeak(): void {
    this.peakBytes = this.allocatedBytes;
  }
}
