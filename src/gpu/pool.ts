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
  /** Bytes sitting in free lists. */
  freeBytes = 0;
  /**
   * Cap on idle free-listed bytes: a forward pass walks through many size classes (each ConvNeXt
   * stage has its own), and keeping all of them would add up to the sum of every stage's working
   * set. Past the cap, a pool miss first destroys idle buffers, oldest first.
   */
  freeCap = 32 * 2 ** 20;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    /** Called with a promise that rejects/resolves with an out-of-memory error, if any. */
    private readonly watch: (check: Promise<GPUError | null>, what: string) => void,
    /** Submits recorded work: a buffer may only be destroyed once the commands using it are submitted. */
    private readonly beforeEvict: () => void = () => undefined,
  ) {}

  static roundSize(bytes: number): number {
    const b = Math.max(4, bytes);
    if (b <= 65536) return Math.ceil(b / 256) * 256;
    const step = 2 ** (Math.floor(Math.log2(b)) - 3);
    return Math.ceil(b / step) * step;
  }

  /**
   * A buffer of at least `bytes`. `exact` skips the size-class rounding (for long-lived tensors
   * such as weights, where 12 % slack on 600 MB would matter and reuse never happens).
   */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label = 'buffer', exact = false): GPUBuffer {
    const size = exact ? Math.max(4, Math.ceil(bytes / 4) * 4) : BufferPool.roundSize(bytes);
    if (size > this.maxBufferSize) {
      throw new LimitError(label, `needs a ${size}-byte buffer but the device allows at most ${this.maxBufferSize}`, { hint: 'use a smaller batch, f16 weights, or a GPU with more memory' });
    }
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const hit = list?.pop();
    if (hit) {
      this.inUseBytes += size;
      this.freeBytes -= size;
      return hit;
    }
    if (this.freeBytes > this.freeCap) this.evict(this.freeCap / 2);
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
    this.freeBytes += buffer.size;
  }

  /** Destroys idle buffers (oldest size classes first) until at most `keep` bytes stay free. */
  private evict(keep: number): void {
    this.beforeEvict();
    for (const [key, list] of this.free) {
      while (list.length && this.freeBytes > keep) {
        const b = list.shift()!;
        this.freeBytes -= b.size;
        this.allocatedBytes -= b.size;
        b.destroy();
      }
      if (!list.length) this.free.delete(key);
      if (this.freeBytes <= keep) break;
    }
  }

  /** Destroys every free-listed buffer (returns memory to the driver). */
  trim(): void {
    this.evict(0);
  }

  resetPeak(): void {
    this.peakBytes = this.allocatedBytes;
  }
}
