// WebGPU for the browser-style peers (onnxruntime-web, TF.js) inside Node: they look for
// navigator.gpu and the WebGPU globals, which the `webgpu` package (Dawn for Node) provides.
// Node only. The driver follows VK_ICD_FILENAMES like our own device (one per process).
import { DeviceUnavailableError } from '../../errors.js';
import { icdForHint } from '../../gpu/adapter-env.js';

interface WebGpuModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let installed: GPU | null = null;

/**
 * Installs navigator.gpu (+ GPUBufferUsage etc.) once per process and patches
 * GPUQueue.writeBuffer: dawn.node crashes on views of a SharedArrayBuffer, and onnxruntime-web's
 * wasm memory is shared, so such writes go through a plain copy.
 */
export async function installNavigatorGpu(adapterHint?: string): Promise<GPU> {
  if (installed) return installed;
  const icd = icdForHint(adapterHint ?? process.env.ECHOCLIP_ADAPTER);
  if (icd) process.env.VK_ICD_FILENAMES = icd;
  let mod: WebGpuModule;
  try {
    mod = (await import('webgpu')) as unknown as WebGpuModule;
  } catch (e) {
    throw new DeviceUnavailableError('WebGPU for peers', `the 'webgpu' package could not be loaded: ${String(e)}`, { hint: "run 'npm ci'", cause: e });
  }
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in g)) g[k] = v;
  const gpu = mod.create([]);
  const nav = (g.navigator ?? {}) as { gpu?: GPU };
  if (!g.navigator) g.navigator = nav;
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  patchWriteBuffer();
  installed = gpu;
  return gpu;
}

function patchWriteBuffer(): void {
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const orig = proto.writeBuffer;
  if ((orig as { sabSafe?: boolean }).sabSafe) return;
  const safe = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number): void {
    const view = ArrayBuffer.isView(data) ? data : new Uint8Array(data as ArrayBuffer);
    if (view.buffer instanceof SharedArrayBuffer) {
      const bpe = (view as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const start = view.byteOffset + (dataOffset ?? 0) * bpe;
      const len = size !== undefined ? size * bpe : view.byteLength - (dataOffset ?? 0) * bpe;
      const copy = new Uint8Array(len);
      copy.set(new Uint8Array(view.buffer, start, len));
      return orig.call(this, buffer, offset, copy);
    }
    return size === undefined ? orig.call(this, buffer, offset, data as BufferSource, dataOffset) : orig.call(this, buffer, offset, data as BufferSource, dataOffset, size);
  };
  (safe as { sabSafe?: boolean }).sabSafe = true;
  proto.writeBuffer = safe as GPUQueue['writeBuffer'];
}
