import { LimitError } from '../errors.js';
import type { CompiledKernel, KernelSpec, PipelineCache } from './pipelines.js';

/** Anything that can be bound as a storage buffer (a Tensor, a raw buffer, or a buffer range). */
export interface Bindable {
  gpuBinding(): GPUBufferBinding;
}
export type BindingArg = Bindable | GPUBuffer | GPUBufferBinding;

export interface Dispatch {
  kernel: KernelSpec;
  bindings: readonly BindingArg[];
  /** Uniform block contents; its byte length must equal kernel.uniformBytes. */
  uniforms?: ArrayBufferView;
  workgroups: readonly [number, number?, number?];
  /** Profile label; defaults to kernel.name. */
  label?: string;
}

export interface ProfileRecord {
  label: string;
  ms: number;
}

const UNIFORM_RING_BYTES = 1 << 20;
const MAX_TIMED_PER_SUBMIT = 256;

function toBinding(b: BindingArg): GPUBufferBinding {
  if ('gpuBinding' in b && typeof b.gpuBinding === 'function') return b.gpuBinding();
  if ('buffer' in b && !('mapAsync' in b)) return b as GPUBufferBinding;
  return { buffer: b as GPUBuffer };
}

/**
 * Records dispatches into one command encoder and one compute pass, and submits them together:
 * a model forward is hundreds of small dispatches, and one submit per dispatch costs more than
 * the work on software adapters. Uniform blocks go into a CPU-side staging copy of a ring buffer
 * that is written once, right before the submit (queue order makes the reuse safe: the next
 * batch's writeBuffer runs after this batch's submit).
 *
 * With profiling on (and timestamp-query available), every dispatch gets its own pass with
 * timestamp writes, so per-dispatch GPU time can be read back.
 */
export class CommandRecorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformRing: GPUBuffer;
  private readonly uniformStaging = new Uint8Array(UNIFORM_RING_BYTES);
  private uniformUsed = 0;
  private readonly uniformAlign: number;
  private pendingCount = 0;
  /** Dispatches submitted since creation (for tests and stats). */
  dispatchCount = 0;
  submitCount = 0;

  private profiling = false;
  private querySet: GPUQuerySet | null = null;
  private timedLabels: string[] = [];
  private readonly profilePending: Promise<void>[] = [];
  readonly profile: ProfileRecord[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: PipelineCache,
    private readonly watch: (check: Promise<GPUError | null>, what: string) => void,
    private readonly maxWorkgroupsPerDimension: number,
    private readonly timestampQuery: boolean,
  ) {
    this.uniformAlign = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
    this.uniformRing = device.createBuffer({ size: UNIFORM_RING_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform-ring' });
  }

  /** True when work has been recorded but not submitted. */
  get pending(): boolean {
    return this.pendingCount > 0;
  }

  /** Turns per-dispatch timing on or off; returns false when the adapter has no timestamp-query. */
  setProfiling(on: boolean): boolean {
    this.flush();
    this.profiling = on && this.timestampQuery;
    if (this.profiling && !this.querySet) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED_PER_SUBMIT });
    }
    return this.profiling;
  }

  private getEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    const max = this.maxWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new LimitError(d.label ?? d.kernel.name, `dispatch of [${x}, ${y}, ${z}] workgroups exceeds the device limit of ${max} per dimension`, { hint: 'the launcher must fold the grid into more dimensions' });
    }
    if (x === 0 || y === 0 || z === 0) return;
    const compiled: CompiledKernel = this.pipelines.get(d.kernel);
    const ub = d.kernel.uniformBytes ?? 0;
    if (ub) {
      if (!d.uniforms || d.uniforms.byteLength !== ub) {
        throw new LimitError(d.kernel.name, `uniform block must be ${ub} bytes, got ${d.uniforms?.byteLength ?? 0}`);
      }
      if (this.uniformUsed + ub > UNIFORM_RING_BYTES) this.flush();
    }
    if (this.profiling && this.timedLabels.length >= MAX_TIMED_PER_SUBMIT) this.flush();

    const entries: GPUBindGroupEntry[] = d.bindings.map((b, i) => ({ binding: i, resource: toBinding(b) }));
    let offset = 0;
    if (ub) {
      offset = this.uniformUsed;
      this.uniformStaging.set(new Uint8Array(d.uniforms!.buffer, d.uniforms!.byteOffset, ub), offset);
      this.uniformUsed += Math.ceil(ub / this.uniformAlign) * this.uniformAlign;
      entries.push({ binding: d.bindings.length, resource: { buffer: this.uniformRing, offset: 0, size: ub } });
    }
    const bindGroup = this.device.createBindGroup({ layout: compiled.layout, entries, label: d.kernel.name });

    const encoder = this.getEncoder();
    let pass: GPUComputePassEncoder;
    if (this.profiling) {
      this.endPass();
      const i = this.timedLabels.length;
      this.timedLabels.push(d.label ?? d.kernel.name);
      pass = encoder.beginComputePass({ timestampWrites: { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      this.pass = pass;
    } else {
      pass = this.pass ??= encoder.beginComputePass();
    }
    pass.setPipeline(compiled.pipeline);
    pass.setBindGroup(0, bindGroup, ub ? [offset] : []);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiling) this.endPass();
    this.pendingCount++;
  }

  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.pendingCount++;
  }

  clearBuffer(buffer: GPUBuffer, offset: number, size: number): void {
    this.endPass();
    this.getEncoder().clearBuffer(buffer, offset, size);
    this.pendingCount++;
  }

  /** Submits everything recorded so far (no-op when nothing is pending). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const encoder = this.encoder;
    let readback: GPUBuffer | null = null;
    let resolve: GPUBuffer | null = null;
    const labels = this.timedLabels;
    if (labels.length) {
      const bytes = labels.length * 16;
      resolve = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      readback = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      encoder.resolveQuerySet(this.querySet!, 0, labels.length * 2, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, bytes);
    }
    if (this.uniformUsed) this.device.queue.writeBuffer(this.uniformRing, 0, this.uniformStaging, 0, this.uniformUsed);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([encoder.finish()]);
    this.watch(this.device.popErrorScope(), 'submitting GPU work');
    this.watch(this.device.popErrorScope(), 'submitting GPU work');
    resolve?.destroy(); // after the submit that uses it (destroy waits for the GPU)
    this.submitCount++;
    this.dispatchCount += this.pendingCount;
    this.encoder = null;
    this.uniformUsed = 0;
    this.pendingCount = 0;
    this.timedLabels = [];
    if (readback) {
      const rb = readback;
      this.profilePending.push(
        rb.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigInt64Array(rb.getMappedRange().slice(0));
          labels.forEach((label, i) => this.profile.push({ label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
          rb.destroy();
        }),
      );
    }
  }

  /** Waits until timing results of submitted work are in `profile`. */
  async drainProfile(): Promise<void> {
    const all = this.profilePending.splice(0);
    await Promise.all(all);
  }

  destroy(): void {
    this.uniformRing.destroy();
    this.querySet?.destroy();
  }
}
