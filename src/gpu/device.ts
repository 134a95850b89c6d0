import { DeviceLostError, DeviceUnavailableError, EchoClipError, GpuOutOfMemoryError, ShaderError } from '../errors.js';
import { icdForHint, SETUP_HINT } from './adapter-env.js';
import { BufferPool } from './pool.js';
import { PipelineCache } from './pipelines.js';
import { CommandRecorder, type Dispatch, type ProfileRecord } from './recorder.js';

export type Runtime = 'node-dawn' | 'deno' | 'browser';

/** What we know about the adapter, in the shape `echoclip bench` reports it. */
export interface AdapterDescription {
  description: string;
  vendor: string;
  architecture: string;
  device: string;
  /** Software/fallback adapter (lavapipe, SwiftShader, WARP): kernels favour register blocking. */
  fallback: boolean;
  features: string[];
  runtime: Runtime;
  subgroupMinSize: number | null;
  subgroupMaxSize: number | null;
  /** Subgroup-matrix shapes the adapter reports (empty where the feature is absent or hidden). */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
}

export interface RequestDeviceOptions {
  /**
   * 'auto' (default), 'lavapipe', 'swiftshader' or a path to a Vulkan ICD .json (Node only; in
   * Node it defaults to $ECHOCLIP_ADAPTER). Chosen before Dawn starts; a process keeps its first choice.
   */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /** Skip shader-f16 even where available (tests of the f32-only paths). */
  disableF16?: boolean;
  /** Skip the known-answer kernel (not recommended; it catches broken backends). */
  skipKnownAnswer?: boolean;
  /**
   * Enable kernels no CI adapter can verify (subgroup matrices: Dawn's
   * chromium-experimental-subgroup-matrix). Default: $ECHOCLIP_EXPERIMENTAL_KERNELS === '1'. In Node
   * this also starts Dawn with its allow_unsafe_apis toggle (a process keeps its first choice); in
   * Chrome the feature needs --enable-features=WebGPUExperimentalFeatures or an origin trial.
   */
  experimentalKernels?: boolean;
}

/** One subgroup-matrix shape the adapter supports (GPUAdapterInfo.subgroupMatrixConfigs). */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** A per-adapter tuning table consulted by `chooseVariant` (kernels/tuning.ts fills it). */
export interface TuningLookup {
  pick(family: string, shapeClass: string): string | undefined;
}

/** Kernel family to prefer: software adapters favour register blocking without workgroup memory. */
export type KernelProfile = 'software' | 'gpu';

interface NodeGpuModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

function detectRuntime(): Runtime {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno !== undefined) return 'deno';
  if (g.process?.versions?.node) return 'node-dawn';
  return 'browser';
}

function envVar(name: string): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env?: { get(n: string): string | undefined } } };
  try {
    return g.process?.env?.[name] ?? g.Deno?.env?.get(name);
  } catch {
    return undefined; // Deno without --allow-env
  }
}

let nodeGpu: GPU | null = null;
let nodeIcd: string | undefined;
let nodeUnsafe = false;

async function getGpu(runtime: Runtime, adapterHint: string | undefined, unsafe: boolean): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (runtime !== 'node-dawn') {
    if (!nav?.gpu) {
      throw new DeviceUnavailableError('WebGPU', `navigator.gpu is not available in this ${runtime}`, {
        hint: runtime === 'browser' ? 'use a browser with WebGPU enabled (Chrome 113+, or --enable-unsafe-webgpu) on a secure origin' : 'use Deno >= 1.39',
      });
    }
    return nav.gpu;
  }
  if (nodeGpu) return nodeGpu;
  const env = (globalThis as { process: { env: Record<string, string | undefined> } }).process.env;
  const icd = icdForHint(adapterHint ?? env.ECHOCLIP_ADAPTER);
  // The Vulkan loader reads this once, when Dawn creates its instance below.
  if (icd) env.VK_ICD_FILENAMES = icd;
  nodeIcd = env.VK_ICD_FILENAMES;
  let mod: NodeGpuModule;
  try {
    const name = 'webgpu'; // a variable keeps browser bundlers from pulling Dawn in
    mod = (await import(/* @vite-ignore */ name)) as NodeGpuModule;
  } catch (e) {
    // `webgpu` is an optional peer dependency (browser and Deno projects never need Dawn).
    const missing = /ERR_MODULE_NOT_FOUND|Cannot find (package|module) 'webgpu'/.test(`${(e as { code?: string }).code ?? ''} ${String(e)}`);
    throw new DeviceUnavailableError('WebGPU', missing ? "Node needs the 'webgpu' package (Dawn), which is not installed" : `the 'webgpu' package (Dawn for Node) could not be loaded: ${String(e)}`, {
      hint: missing ? 'npm install webgpu' : 'reinstall it: npm install webgpu',
      cause: e,
    });
  }
  Object.assign(globalThis, mod.globals);
  // Dawn exposes experimental features (subgroup matrices) only with allow_unsafe_apis.
  nodeUnsafe = unsafe;
  nodeGpu = mod.create(unsafe ? ['enable-dawn-features=allow_unsafe_apis'] : []);
  return nodeGpu;
}

const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
] as const;

/**
 * A WebGPU device ready for our kernels: real limits, optional features, buffer pool, pipeline
 * cache and a command recorder that batches dispatches. Create with `requestDevice()`.
 */
export class Gpu {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly recorder: CommandRecorder;
  readonly limits: GPUSupportedLimits;
  readonly f16: boolean;
  readonly subgroups: boolean;
  /** Subgroup-matrix configurations when the device has the feature enabled, else null. */
  readonly subgroupMatrix: SubgroupMatrixConfig[] | null;
  /** Experimental kernels (subgroup matrices) may be chosen. */
  readonly experimentalKernels: boolean;
  readonly timestampQuery: boolean;
  readonly kernelProfile: KernelProfile;
  /** Per-adapter tuning table (null: table defaults). */
  tuning: TuningLookup | null = null;
  private readonly errorChecks: Promise<void>[] = [];
  private readonly errors: EchoClipError[] = [];
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    experimentalKernels = false,
  ) {
    this.limits = device.limits;
    const f = device.features;
    this.f16 = f.has('shader-f16');
    this.subgroups = f.has('subgroups');
    this.subgroupMatrix = f.has(SUBGROUP_MATRIX as GPUFeatureName) && adapter.subgroupMatrixConfigs.length > 0 ? adapter.subgroupMatrixConfigs : null;
    this.experimentalKernels = experimentalKernels;
    this.timestampQuery = f.has('timestamp-query');
    const override = envVar('ECHOCLIP_KERNEL_PROFILE');
    this.kernelProfile = override === 'software' || override === 'gpu' ? override : adapter.fallback ? 'software' : 'gpu';
    const watch = (check: Promise<GPUError | null>, what: string) => this.watch(check, what);
    this.pipelines = new PipelineCache(device, watch);
    this.recorder = new CommandRecorder(device, this.pipelines, watch, device.limits.maxComputeWorkgroupsPerDimension, this.timestampQuery);
    this.pool = new BufferPool(device, device.limits.maxBufferSize, watch, () => this.recorder.flush());
    void device.lost.then((info) => {
      this.lostInfo = info;
    });
  }

  get queue(): GPUQueue {
    return this.device.queue;
  }

  private watch(check: Promise<GPUError | null>, what: string): void {
    this.errorChecks.push(
      check.then(
        (err) => {
          if (!err) return;
          const oom = typeof GPUOutOfMemoryError !== 'undefined' && err instanceof GPUOutOfMemoryError;
          this.errors.push(
            oom
              ? new GpuOutOfMemoryError(what, `the GPU ran out of memory: ${err.message}`, { hint: 'use a smaller batch or f16 weights' })
              : new ShaderError(what, `WebGPU validation failed: ${err.message}`, { hint: 'this is a bug in echoclip-webgpu or an adapter without a needed feature; please report it' }),
          );
        },
        () => undefined, // scope pops reject only when the device is lost; lost.then reports that
      ),
    );
  }

  /** Throws the typed error for a lost device (no-op while the device is alive). */
  assertAlive(): void {
    if (this.lostInfo && !this.destroyed) {
      throw new DeviceLostError('GPU device', `lost (${this.lostInfo.reason}): ${this.lostInfo.message}`, { hint: 'create a new device with requestDevice(); results in flight are gone' });
    }
    if (this.destroyed) throw new DeviceLostError('GPU device', 'already destroyed', { hint: 'create a new device with requestDevice()' });
  }

  /** Records a compute dispatch (submitted at the next flush/read). */
  dispatch(d: Dispatch): void {
    this.assertAlive();
    this.recorder.dispatch(d);
  }

  flush(): void {
    this.assertAlive();
    this.recorder.flush();
  }

  /** Surfaces any validation/out-of-memory error raised by work recorded so far. */
  async checkErrors(): Promise<void> {
    const checks = this.errorChecks.splice(0);
    await Promise.all(checks);
    this.assertAlive();
    const e = this.errors.shift();
    if (e) {
      this.errors.length = 0;
      throw e;
    }
  }

  /** Submits pending work and waits until the GPU has finished it. */
  async sync(): Promise<void> {
    this.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.device.lost.then(() => undefined)]);
    await this.checkErrors();
  }

  /** Runs `fn` with per-dispatch GPU timing (timestamp-query); returns records in submit order. */
  async profile(fn: () => Promise<void> | void): Promise<ProfileRecord[] | null> {
    if (!this.recorder.setProfiling(true)) return null;
    const start = this.recorder.profile.length;
    try {
      await fn();
      this.flush();
      await this.recorder.drainProfile();
    } finally {
      this.recorder.setProfiling(false);
    }
    return this.recorder.profile.splice(start);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.recorder.destroy();
    if (!this.lostInfo) this.pool.trim();
    this.device.destroy();
  }
}

const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix';

function describe(adapter: GPUAdapter, runtime: Runtime): AdapterDescription {
  const info = (adapter.info ?? {}) as Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: SubgroupMatrixConfig[] };
  const legacyFallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    description: info.description || info.device || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'WebGPU adapter (details hidden by the runtime)',
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    fallback: Boolean(info.isFallbackAdapter ?? legacyFallback ?? false),
    features: [...adapter.features].sort(),
    runtime,
    subgroupMinSize: info.subgroupMinSize ?? null,
    subgroupMaxSize: info.subgroupMaxSize ?? null,
    subgroupMatrixConfigs: [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K })),
  };
}

// Known answer: a loop longer than 65535 iterations (one broken Vulkan stack silently caps shader
// loops there) plus float arithmetic and a store per invocation. A null or broken backend fails.
const KNOWN_ANSWER_N = 256;
const KNOWN_ANSWER_ITERS = 70001;
const KNOWN_ANSWER_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> outU: array<u32>;
@group(0) @binding(1) var<storage, read_write> outF: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= ${KNOWN_ANSWER_N}u) { return; }
  var acc = 0u;
  for (var k = 0u; k < ${KNOWN_ANSWER_ITERS}u; k++) { acc += (i ^ k) & 7u; }
  outU[i] = acc;
  outF[i] = f32(i) * 0.5 + 1.25;
}`;

async function runKnownAnswer(gpu: Gpu): Promise<void> {
  const { device } = gpu;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const bytes = KNOWN_ANSWER_N * 4;
  const u = device.createBuffer({ size: bytes, usage });
  const f = device.createBuffer({ size: bytes, usage });
  const read = device.createBuffer({ size: 2 * bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    gpu.dispatch({ kernel: { name: 'known-answer', code: KNOWN_ANSWER_WGSL, storage: ['read_write', 'read_write'] }, bindings: [u, f], workgroups: [KNOWN_ANSWER_N / 64] });
    gpu.recorder.copyBuffer(u, 0, read, 0, bytes);
    gpu.recorder.copyBuffer(f, 0, read, bytes, bytes);
    gpu.flush();
    await read.mapAsync(GPUMapMode.READ);
    const data = read.getMappedRange().slice(0);
    read.unmap();
    await gpu.checkErrors();
    const gotU = new Uint32Array(data, 0, KNOWN_ANSWER_N);
    const gotF = new Float32Array(data, bytes, KNOWN_ANSWER_N);
    for (let i = 0; i < KNOWN_ANSWER_N; i++) {
      // (i ^ k) & 7 cycles through 0..7 every 8 k; count full cycles plus the tail.
      const full = Math.floor(KNOWN_ANSWER_ITERS / 8) * 28;
      let tail = 0;
      for (let k = KNOWN_ANSWER_ITERS - (KNOWN_ANSWER_ITERS % 8); k < KNOWN_ANSWER_ITERS; k++) tail += (i ^ k) & 7;
      const wantU = full + tail;
      const wantF = i * 0.5 + 1.25;
      if (gotU[i] !== wantU || gotF[i] !== wantF) {
        throw new DeviceUnavailableError(`adapter '${gpu.adapter.description}'`, `failed the known-answer check at element ${i}: expected ${wantU}/${wantF}, got ${gotU[i]}/${gotF[i]}`, {
          hint: `this WebGPU backend computes wrong results; ${SETUP_HINT}`,
        });
      }
    }
  } finally {
    u.destroy();
    f.destroy();
    read.destroy();
  }
}

/**
 * Acquires a WebGPU device on Node (Dawn via the `webgpu` package), Deno or a browser, with the
 * adapter's real limits, shader-f16 / subgroups / timestamp-query when present, and a known-answer
 * check. Throws DeviceUnavailableError (naming the fix) when there is no working adapter.
 */
export async function requestDevice(options: RequestDeviceOptions = {}): Promise<Gpu> {
  const runtime = detectRuntime();
  const experimental = options.experimentalKernels ?? envVar('ECHOCLIP_EXPERIMENTAL_KERNELS') === '1';
  const gpuApi = await getGpu(runtime, options.adapter, experimental);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpuApi.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new DeviceUnavailableError('WebGPU', `requestAdapter failed: ${String(e)}`, { hint: SETUP_HINT, cause: e });
  }
  if (!adapter) {
    const where = runtime === 'node-dawn' ? ` (Vulkan ICD: ${nodeIcd ?? 'loader default'})` : '';
    throw new DeviceUnavailableError('WebGPU', `no adapter found${where}`, { hint: SETUP_HINT });
  }
  const wanted: GPUFeatureName[] = [];
  for (const name of ['shader-f16', 'subgroups', 'timestamp-query'] as const) {
    if (name === 'shader-f16' && options.disableF16) continue;
    if (adapter.features.has(name)) wanted.push(name as GPUFeatureName);
  }
  if (experimental && adapter.features.has(SUBGROUP_MATRIX)) wanted.push(SUBGROUP_MATRIX as GPUFeatureName);
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const description = describe(adapter, runtime);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: wanted, requiredLimits, label: 'echoclip' });
  } catch (e) {
    throw new DeviceUnavailableError(`adapter '${description.description}'`, `requestDevice failed: ${String(e)}`, { hint: SETUP_HINT, cause: e });
  }
  const gpu = new Gpu(device, description, experimental && (runtime !== 'node-dawn' || nodeUnsafe));
  if (!options.skipKnownAnswer) {
    try {
      await runKnownAnswer(gpu);
    } catch (e) {
      gpu.destroy();
      throw e;
    }
  }
  return gpu;
}
