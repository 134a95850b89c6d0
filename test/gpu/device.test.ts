import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requestDevice } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { DeviceLostError, LimitError, ShaderError } from '../../src/errors.js';
import { matmul } from '../../src/kernels/gemm/index.js';
import { testGpu } from '../helpers/gpu.js';

const root = resolve(import.meta.dirname, '../..');

describe('requestDevice', () => {
  it('describes the adapter and asks for its real limits and optional features', async () => {
    const gpu = await testGpu();
    const a = gpu.adapter;
    expect(a.runtime).toBe('node-dawn');
    expect(a.description.length).toBeGreaterThan(0);
    expect(typeof a.fallback).toBe('boolean');
    // Software adapters are flagged as fallback and get the register-blocked kernels.
    if (process.env.ECHOCLIP_ADAPTER === 'lavapipe' || process.env.ECHOCLIP_ADAPTER === 'swiftshader') {
      expect(a.fallback).toBe(true);
      expect(gpu.kernelProfile).toBe('software');
    }
    // Defaults are 128 MiB / 256 MiB / 16 KiB / 8; the adapters here offer more and we must get it.
    expect(gpu.limits.maxBufferSize).toBeGreaterThan(256 * 2 ** 20);
    expect(gpu.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(32768);
    expect(gpu.limits.maxStorageBuffersPerShaderStage).toBeGreaterThan(8);
    expect(gpu.f16).toBe(a.features.includes('shader-f16'));
    expect(gpu.subgroups).toBe(a.features.includes('subgroups'));
    if (process.env.ECHOCLIP_ADAPTER === 'swiftshader') expect(gpu.f16).toBe(false);
    if (process.env.ECHOCLIP_ADAPTER === 'lavapipe') expect(gpu.f16).toBe(true);
  });

  it('fails with a typed error that names the fix when no adapter exists', async () => {
    // A fresh process: the Vulkan driver is fixed once Dawn starts. dist/ is built by scripts/test.sh.
    const script = `import('./dist/index.js').then(async (m) => { try { await m.requestDevice(); console.log('no error'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, typed: e instanceof m.DeviceUnavailableError })); } })`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root, timeout: 60_000, env: { ...process.env, ECHOCLIP_ADAPTER: '/nonexistent/icd.json', VK_ICD_FILENAMES: '/nonexistent/icd.json' },
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(r.typed).toBe(true);
    expect(r.name).toBe('DeviceUnavailableError');
    expect(r.message).toMatch(/no adapter found/);
    expect(r.message).toMatch(/scripts\/setup-machine\.sh/);
  });

  it('turns a lost device into DeviceLostError', async () => {
    const gpu = await requestDevice({ adapter: process.env.ECHOCLIP_ADAPTER ?? 'lavapipe' });
    const t = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    gpu.device.destroy(); // as a driver reset would
    await gpu.device.lost;
    expect(() => matmul(t, t)).toThrow(DeviceLostError);
    await expect(t.read()).rejects.toThrow(DeviceLostError);
  });
});

describe('errors surface as typed errors', () => {
  it('a WGSL compile error is a ShaderError at the next sync', async () => {
    const gpu = await testGpu();
    const out = Tensor.empty(gpu, [4]);
    gpu.dispatch({ kernel: { name: 'broken', code: '@compute @workgroup_size(1) fn main() { let x: f32 = not_defined; }', storage: [] }, bindings: [], workgroups: [1] });
    await expect(gpu.sync()).rejects.toThrow(ShaderError);
    // The device stays usable afterwards.
    out.write(new Float32Array([1, 2, 3, 4]));
    expect(Array.from(await out.read())).toEqual([1, 2, 3, 4]);
  });

  it('a buffer above maxBufferSize is a LimitError before anything is allocated', async () => {
    const gpu = await testGpu();
    const tooMany = Math.ceil(gpu.limits.maxBufferSize / 4) + 1024;
    expect(() => Tensor.empty(gpu, [tooMany])).toThrow(LimitError);
  });

  it('a grid beyond the per-dimension workgroup limit is a LimitError', async () => {
    const gpu = await testGpu();
    expect(() => gpu.dispatch({ kernel: { name: 'noop', code: '@compute @workgroup_size(1) fn main() {}', storage: [] }, bindings: [], workgroups: [70000] })).toThrow(LimitError);
  });
});

describe('Tensor', () => {
  it.each([
    ['f32', new Float32Array([1.5, -2, 3.25, 0, 1e-20])],
    ['i32', new Int32Array([-7, 0, 2 ** 31 - 1, 5])],
    ['u32', new Uint32Array([0, 1, 2 ** 32 - 1])],
  ] as const)('round-trips %s data (odd lengths too)', async (dtype, data) => {
    const gpu = await testGpu();
    const t = Tensor.from(gpu, data, [data.length], dtype);
    expect(t.dtype).toBe(dtype);
    expect(Array.from(await t.read())).toEqual(Array.from(data));
    t.release();
  });

  it('round-trips f16 (3 halves: not a multiple of 4 bytes), rounding to nearest even', async () => {
    const gpu = await testGpu();
    const t = Tensor.from(gpu, new Float32Array([1, 65504, 1 + 2 ** -11]), [3], 'f16');
    expect(t.byteLength).toBe(6);
    expect(Array.from(await t.toFloat32())).toEqual([1, 65504, 1]);
  });

  it('views share the buffer; release is idempotent; use after release is an error', async () => {
    const gpu = await testGpu();
    const align = gpu.limits.minStorageBufferOffsetAlignment / 4;
    const data = Float32Array.from({ length: 4 * align }, (_, i) => i);
    const t = Tensor.from(gpu, data, [4, align]);
    const v = t.slice0(2, 4);
    expect(v.shape).toEqual([2, align]);
    expect(Array.from(await v.read())).toEqual(Array.from(data.subarray(2 * align)));
    expect(t.reshape([align, 4]).shape).toEqual([align, 4]);
    expect(() => t.reshape([3, 3])).toThrow(/cannot view/);
    v.release(); // a view never frees its owner
    expect(Array.from(await t.read())).toEqual(Array.from(data));
    t.release();
    t.release();
    expect(() => t.gpuBinding()).toThrow(/used after release/);
    expect(() => v.gpuBinding()).toThrow(/used after release/);
  });

  it('writing a reused pooled buffer never changes work recorded before it', async () => {
    const gpu = await testGpu();
    const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    const eye = Tensor.from(gpu, [1, 0, 0, 1], [2, 2]);
    const c = matmul(a, eye); // recorded, not submitted
    a.release();
    const b = Tensor.from(gpu, [9, 9, 9, 9], [2, 2]); // same size class: gets a's buffer back
    expect(b.buffer).toBe(a.buffer);
    expect(Array.from(await c.read())).toEqual([1, 2, 3, 4]);
  });
});

describe('buffer pool, pipeline cache, recorder', () => {
  it('reuses released buffers by size class and tracks the peak', async () => {
    const gpu = await testGpu();
    const before = gpu.pool.allocatedBytes;
    const t1 = Tensor.empty(gpu, [1000]);
    const buf = t1.buffer;
    t1.release();
    const t2 = Tensor.empty(gpu, [990]); // rounds to the same class
    expect(t2.buffer).toBe(buf);
    expect(gpu.pool.allocatedBytes - before).toBeLessThanOrEqual(4096);
    expect(gpu.pool.peakBytes).toBeGreaterThanOrEqual(gpu.pool.allocatedBytes);
    t2.release();
  });

  it('keeps idle memory under the free cap by evicting old size classes (after submitting)', async () => {
    const gpu = await testGpu();
    gpu.pool.trim();
    const cap = gpu.pool.freeCap;
    gpu.pool.freeCap = 1 << 20;
    try {
      const eye = Tensor.from(gpu, [1, 0, 0, 1], [2, 2]);
      for (let i = 0; i < 40; i++) {
        const t = Tensor.zeros(gpu, [2, 4096 + i * 700]); // a new size class every time
        const r = matmul(eye, t); // recorded work reading t, not yet submitted
        t.release();
        r.release();
      }
      expect(gpu.pool.freeBytes).toBeLessThanOrEqual((1 << 20) + 64 * 1024);
      await gpu.sync(); // no use of a destroyed buffer was submitted
    } finally {
      gpu.pool.freeCap = cap;
    }
  });

  it('compiles each distinct kernel once', async () => {
    const gpu = await testGpu();
    const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    matmul(a, a);
    const n = gpu.pipelines.size;
    matmul(a, a);
    matmul(a, a, { transB: true });
    expect(gpu.pipelines.size).toBe(n + 1);
    await gpu.sync();
  });

  it('batches many dispatches into one submit', async () => {
    const gpu = await testGpu();
    await gpu.sync();
    const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    const submits = gpu.recorder.submitCount;
    let x = a;
    for (let i = 0; i < 100; i++) x = matmul(x, a);
    await gpu.sync();
    expect(gpu.recorder.submitCount - submits).toBe(1);
  });

  it('times each dispatch with timestamp queries where available', async () => {
    const gpu = await testGpu();
    const a = Tensor.from(gpu, new Float32Array(64 * 64).fill(1), [64, 64]);
    const records = await gpu.profile(() => {
      matmul(a, a);
      matmul(a, a, { transB: true });
    });
    if (!gpu.timestampQuery) {
      expect(records).toBeNull();
      return;
    }
    expect(records!.map((r) => r.label)).toEqual([expect.stringMatching(/^matmul/), expect.stringMatching(/^matmul/)]);
    for (const r of records!) expect(r.ms).toBeGreaterThanOrEqual(0);
  });
});
