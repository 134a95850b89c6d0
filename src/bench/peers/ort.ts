// ONNX Runtime peers: onnxruntime-node (native, its own Dawn-based WebGPU EP, or the CPU EP for
// tests) and onnxruntime-web (wasm + the JS WebGPU EP, run in Node on the `webgpu` package).
// Node only. Inputs and outputs go through host memory (ONNX Runtime's default I/O path).
import { DeviceUnavailableError, EchoClipError } from '../../errors.js';
import { installNavigatorGpu } from './webgpu-node.js';

export type OrtImpl = 'onnxruntime-node' | 'onnxruntime-web';
export type OrtProvider = 'webgpu' | 'cpu';

export interface Feed {
  name: string;
  data: Float32Array | Int32Array;
  dims: readonly number[];
}

/** One loaded graph; `run` returns the first output as f32. */
export interface PeerSession {
  run(feeds: readonly Feed[]): Promise<Float32Array>;
  release(): Promise<void>;
}

/** A peer that failed to load or run a graph (the bench reports it as the case's `error`). */
export class PeerError extends EchoClipError {}

// The two packages share onnxruntime-common's API; only the members used here are typed.
interface OrtTensor {
  data: unknown;
  dispose?(): void;
}
interface OrtSession {
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: 'float32' | 'int32', data: Float32Array | Int32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, opts: Record<string, unknown>): Promise<OrtSession> };
  env: { logLevel?: string; wasm: { numThreads?: number; proxy?: boolean }; webgpu?: { device?: unknown } };
}

const modules = new Map<OrtImpl, Promise<OrtModule>>();

async function loadOrt(impl: OrtImpl): Promise<OrtModule> {
  let m = modules.get(impl);
  if (!m) {
    m = (async () => {
      if (impl === 'onnxruntime-node') return (await import('onnxruntime-node')) as unknown as OrtModule;
      await installNavigatorGpu();
      const mod = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule & { default?: OrtModule };
      const ort = mod.InferenceSession ? mod : (mod.default as OrtModule);
      // One wasm thread: the bench measures the GPU path, and worker threads only add noise here.
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = 'error';
      return ort;
    })();
    modules.set(impl, m);
  }
  try {
    return await m;
  } catch (e) {
    modules.delete(impl);
    throw new DeviceUnavailableError(impl, `could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { hint: "run 'npm ci' (onnxruntime-node needs ONNXRUNTIME_NODE_INSTALL=skip on machines without internet)", cause: e });
  }
}

/** Loads a serialized ONNX model into a session on the given execution provider. */
export async function createOrtSession(impl: OrtImpl, model: Uint8Array, provider: OrtProvider = 'webgpu'): Promise<PeerSession> {
  const ort = await loadOrt(impl);
  if (impl === 'onnxruntime-web' && provider === 'cpu') throw new PeerError(impl, "the CPU path of onnxruntime-web is its wasm EP, which this bench does not compare", { hint: "use provider 'webgpu'" });
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: [impl === 'onnxruntime-web' ? 'webgpu' : provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
  } catch (e) {
    throw new PeerError(`${impl} (${provider})`, `could not create a session: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return {
    async run(feeds) {
      const inputs: Record<string, OrtTensor> = {};
      for (const f of feeds) inputs[f.name] = new ort.Tensor(f.data instanceof Float32Array ? 'float32' : 'int32', f.data, f.dims);
      let out: Record<string, OrtTensor>;
      try {
        out = await session.run(inputs);
      } catch (e) {
        throw new PeerError(`${impl} (${provider})`, `run failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      const first = out[session.outputNames[0]];
      const data = first.data;
      if (!(data instanceof Float32Array)) throw new PeerError(`${impl} output`, 'is not float32');
      // Copy: onnxruntime-web may hand out a view into wasm memory that the next run overwrites.
      const result = new Float32Array(data);
      for (const t of Object.values(out)) t.dispose?.();
      return result;
    },
    release: () => session.release(),
  };
}
