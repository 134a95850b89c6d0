/** How a kernel binds its storage buffers (group 0, bindings 0..n-1 in this order). */
export type StorageAccess = 'read' | 'read_write';

/**
 * A compute kernel: WGSL source plus how it binds. Storage buffers take bindings 0..n-1 of group 0;
 * when `uniformBytes` > 0 a uniform block follows at binding n (bound with a dynamic offset into
 * the recorder's per-submit uniform ring, so dispatches do not allocate).
 */
export interface KernelSpec {
  /** Label for errors and profiles, e.g. "matmul/regblock". */
  name: string;
  code: string;
  entryPoint?: string;
  storage: readonly StorageAccess[];
  uniformBytes?: number;
  /** Pipeline-overridable constants (WGSL `override`). */
  constants?: Record<string, number>;
}

export interface CompiledKernel {
  spec: KernelSpec;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/**
 * Compiles each distinct kernel once; keyed by WGSL source, then entry point, constants and
 * bindings. Two levels, so a lookup hashes the (possibly 75 KB, generated) source string itself —
 * whose hash V8 keeps once computed when generators return a cached string — instead of a fresh
 * concatenation of it per dispatch.
 */
export class PipelineCache {
  private readonly cache = new Map<string, Map<string, CompiledKernel>>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private count = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly watch: (check: Promise<GPUError | null>, what: string) => void,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Everything but the source that makes a pipeline distinct. */
  static variantKey(spec: KernelSpec): string {
    const c = spec.constants ? JSON.stringify(Object.entries(spec.constants).sort()) : '';
    return `${spec.entryPoint ?? 'main'}|${spec.storage.join(',')}|${spec.uniformBytes ?? 0}|${c}`;
  }

  get(spec: KernelSpec): CompiledKernel {
    let byVariant = this.cache.get(spec.code);
    if (!byVariant) {
      byVariant = new Map();
      this.cache.set(spec.code, byVariant);
    }
    const key = PipelineCache.variantKey(spec);
    const hit = byVariant.get(key);
    if (hit) return hit;
    const entries: GPUBindGroupLayoutEntry[] = spec.storage.map((access, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (spec.uniformBytes) {
      entries.push({ binding: spec.storage.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: spec.uniformBytes } });
    }
    this.device.pushErrorScope('validation');
    let module = this.modules.get(spec.code);
    if (!module) {
      module = this.device.createShaderModule({ code: spec.code, label: spec.name });
      this.modules.set(spec.code, module);
    }
    const layout = this.device.createBindGroupLayout({ entries, label: spec.name });
    const pipeline = this.device.createComputePipeline({
      label: spec.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: spec.constants },
    });
    this.watch(this.device.popErrorScope(), `compiling kernel ${spec.name}`);
    const compiled = { spec, pipeline, layout };
    byVariant.set(key, compiled);
    this.count++;
    return compiled;
  }
}
