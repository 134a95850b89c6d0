// The subgroup-matrix GEMM ('subgroup-matrix', experimental) and the GEMM-composed attention core.
// Neither CI adapter has chromium-experimental-subgroup-matrix, so the variant is checked in three
// ways here: (a) its WGSL passes Tint's full validation (parse, types, uniformity) on Dawn's null
// backend, which exposes the feature, and on the CI adapter fails only on the missing extension;
// (b) it is never available or chosen on these adapters, and the shape picked from an adapter's
// configurations is right; (c) the same generator with plain-WGSL stand-ins for the builtins
// (GemmKey.sgm.emulate) runs on lavapipe through the real launchers, against float64 references
// of the f16-rounded operands. attentionCoreGemm is checked with the portable GEMM variants.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ShaderError } from '../../src/errors.js';
import type { Gpu, SubgroupMatrixConfig } from '../../src/gpu/device.js';
import { fromF16Array, toF16Array } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { attentionCore } from '../../src/kernels/attention.js';
import { attentionCoreGemm } from '../../src/kernels/attention-gemm.js';
import { defaultMatmulVariant, gemmWgsl, matmul, type MatmulVariant } from '../../src/kernels/gemm/index.js';
import { subgroupMatrixShape } from '../../src/kernels/gemm/subgroup-matrix.js';
import type { GemmKey, SubgroupMatrixShape } from '../../src/kernels/gemm/types.js';
import { chooseVariant, KERNEL_VARIANTS, variantAvailable } from '../../src/kernels/variants.js';
import { attentionRef, epilogueRef, matmulRef } from '../../src/selfcheck/cpu-ref.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

// The launchers take the variant's shape from requireSubgroupMatrixShape; tests that run the
// emulated body set `emu.shape` (null: the real function, which refuses on these adapters).
const emu = vi.hoisted(() => ({ shape: null as SubgroupMatrixShape | null }));
vi.mock('../../src/kernels/gemm/subgroup-matrix.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/kernels/gemm/subgroup-matrix.js')>();
  return { ...orig, requireSubgroupMatrixShape: (gpu: Gpu) => emu.shape ?? orig.requireSubgroupMatrixShape(gpu) };
});

const SGM_ROW = KERNEL_VARIANTS.find((v) => v.family === 'matmul' && v.name === 'subgroup-matrix')!;

function key(sgm: SubgroupMatrixShape, o: Partial<GemmKey> = {}): GemmKey {
  return {
    variant: 'subgroup-matrix', aLayout: 'rows', transB: true, bias: false, gelu: false, scale: false, residual: 'none',
    tA: 'f32', tB: 'f32', tBias: 'f32', tScale: 'f32', tR: 'f32', tC: 'f32', vecA: true, vecB: true, vecC: true, seg4: false, kTail: false,
    sgm, ...o,
  };
}

/** Errors of compiling `code` on `device` (compilation messages; a validation scope swallows the device error). */
async function compileErrors(device: GPUDevice, code: string): Promise<string[]> {
  device.pushErrorScope('validation');
  const info = await device.createShaderModule({ code }).getCompilationInfo();
  await device.popErrorScope();
  return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
}

// Dawn's null backend (no GPU) offers chromium-experimental-subgroup-matrix under allow_unsafe_apis:
// shader modules get the full front-end validation there, uniformity analysis included.
// The instance is kept referenced: collecting it while its device lives crashes the process.
let nullInstance: GPU | null = null;
let nullDevice: Promise<GPUDevice> | null = null;
function nullBackendDevice(): Promise<GPUDevice> {
  nullDevice ??= (async () => {
    await testGpu(); // Dawn's globals come with the test device
    const name = 'webgpu';
    const { create } = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GPU };
    nullInstance = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
    const adapter = await nullInstance.requestAdapter();
    if (!adapter) throw new Error("Dawn's null backend gave no adapter");
    return adapter.requestDevice({ requiredFeatures: ['chromium-experimental-subgroup-matrix', 'subgroups', 'shader-f16'] as GPUFeatureName[] });
  })();
  return nullDevice;
}
afterAll(async () => {
  (await nullDevice)?.destroy();
  nullInstance = null;
});

const CONFIGS: [string, SubgroupMatrixShape, Partial<GemmKey>][] = [
  ['8×8×8 f16→f32 (Apple-sized), rows · Bᵀ', { M: 8, N: 8, K: 8, result: 'f32', wg: 128 }, {}],
  ['16×16×16 f16→f32 (NVIDIA/AMD), f16 storage, bias + GELU', { M: 16, N: 16, K: 16, result: 'f32', wg: 128 }, { bias: true, gelu: true, tA: 'f16', tB: 'f16', tC: 'f16', tBias: 'f16' }],
  ['16×8×16 f16→f32, wg 256 (AMD wave64), Aᵀ · B, scale + in-place residual', { M: 16, N: 8, K: 16, result: 'f32', wg: 256 }, { aLayout: 'cols', transB: false, scale: true, residual: 'inplace' }],
  ['8×16×16 f16→f16 (f16 accumulation), conv patches, separate residual', { M: 8, N: 16, K: 16, result: 'f16', wg: 128 }, { aLayout: 'patch', residual: 'separate', vecC: false, kTail: true }],
];

describe('subgroup-matrix GEMM: generated WGSL', () => {
  it.each(CONFIGS)('%s: structure, and Tint accepts it on the null backend', async (_, sgm, o) => {
    const { code } = gemmWgsl(key(sgm, o));
    const FR = 32 / sgm.M, FC = 32 / sgm.N;
    // Directives first, the matrix types from the configuration, one multiply-accumulate per
    // fragment pair, stores of every accumulator into the half tile, the shared epilogue.
    expect(code.startsWith('enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\n')).toBe(true);
    expect(code).toContain(`alias SgLeft = subgroup_matrix_left<f16, ${sgm.K}, ${sgm.M}>;`);
    expect(code).toContain(`alias SgRight = subgroup_matrix_right<f16, ${sgm.N}, ${sgm.K}>;`);
    expect(code).toContain(`alias SgResult = subgroup_matrix_result<${sgm.result}, ${sgm.N}, ${sgm.M}>;`);
    expect(code).toContain(`@compute @workgroup_size(${sgm.wg}, 1, 1)`);
    expect(code).toContain('@builtin(subgroup_id) sgid: u32');
    expect(code.match(/subgroupMatrixLoad<SgLeft, row_major>\(&tA, /g)).toHaveLength(FR);
    expect(code.match(/subgroupMatrixLoad<SgRight, row_major>\(&tB, /g)).toHaveLength(FC);
    expect(code.match(/subgroupMatrixMultiplyAccumulate\(/g)).toHaveLength(FR * FC);
    expect(code.match(/subgroupMatrixStore<row_major>\(&tC, /g)).toHaveLength(FR * FC);
    expect(code).toContain('storeRow(b, r0 + ri, c0, accs[ri], cols)');
    expect(await compileErrors(await nullBackendDevice(), code)).toEqual([]);
  });

  it('fails on the CI adapter only at the missing extension', async () => {
    const gpu = await testGpu();
    const errors = await compileErrors(gpu.device, gemmWgsl(key(CONFIGS[1][1], CONFIGS[1][2])).code);
    // Tint stops at the first directive the device does not allow: the subgroup-matrix one on
    // lavapipe (it has f16 and subgroups), f16 on SwiftShader.
    const line = gpu.f16 ? 3 : 1;
    const ext = gpu.f16 ? 'chromium_experimental_subgroup_matrix' : 'f16';
    expect(errors).toEqual([`${line}:8 extension '${ext}' is not allowed in the current environment`]);
  });

  it('the uniformity analysis would reject fragment calls under invocation-dependent control flow', async () => {
    // Guards the check above: the null backend really analyses uniformity.
    const code = gemmWgsl(key(CONFIGS[0][1])).code.replace('if (computes) {', 'if (li < 64u) {');
    const errors = await compileErrors(await nullBackendDevice(), code);
    expect(errors.join('\n')).toMatch(/must only be called from subgroup uniform control flow/);
  });
});

describe('subgroup-matrix GEMM: availability', () => {
  it('is experimental, needs the feature and f16, leads the matmul rows, and is off on the CI adapters', async () => {
    const gpu = await testGpu();
    expect(SGM_ROW).toMatchObject({ experimental: true, defaultOn: ['gpu'] });
    expect(SGM_ROW.needs).toEqual(expect.arrayContaining(['subgroup-matrix', 'shader-f16']));
    expect(KERNEL_VARIANTS.find((v) => v.family === 'matmul')).toBe(SGM_ROW);
    expect(gpu.adapter.features).not.toContain('chromium-experimental-subgroup-matrix');
    expect(gpu.subgroupMatrix).toBeNull();
    const withExperimental = Object.create(gpu, { experimentalKernels: { value: true }, kernelProfile: { value: 'gpu' } }) as Gpu;
    for (const g of [gpu, withExperimental]) {
      expect(variantAvailable(g, SGM_ROW)).toBe(false);
      expect(chooseVariant(g, 'matmul')).not.toBe('subgroup-matrix');
      expect(defaultMatmulVariant(g)).not.toBe('subgroup-matrix');
      expect(subgroupMatrixShape(g)).toBeNull();
    }
    const a = Tensor.zeros(gpu, [4, 4]);
    expect(() => matmul(a, a, { variant: 'subgroup-matrix' })).toThrowError(ShaderError);
    expect(() => matmul(a, a, { variant: 'subgroup-matrix' })).toThrowError(/chromium-experimental-subgroup-matrix is not enabled/);
  });

  it("picks the shape from the adapter's configurations", async () => {
    const gpu = await testGpu();
    const c = (componentType: string, resultComponentType: string, M: number, N: number, K: number): SubgroupMatrixConfig => ({ componentType, resultComponentType, M, N, K });
    const fake = (configs: SubgroupMatrixConfig[], maxSg: number) =>
      Object.create(gpu, {
        subgroupMatrix: { value: configs }, experimentalKernels: { value: true }, f16: { value: true }, subgroups: { value: true }, kernelProfile: { value: 'gpu' },
        adapter: { value: { ...gpu.adapter, subgroupMaxSize: maxSg } },
        limits: { value: { maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupStorageSize: 32768 } },
      }) as Gpu;
    const nvidia = fake([c('f16', 'f16', 16, 8, 16), c('f16', 'f32', 16, 8, 16), c('f16', 'f32', 16, 16, 16), c('u8', 'u32', 16, 16, 32)], 32);
    expect(subgroupMatrixShape(nvidia)).toEqual({ M: 16, N: 16, K: 16, result: 'f32', wg: 128 });
    expect(variantAvailable(nvidia, SGM_ROW)).toBe(true);
    expect(chooseVariant(nvidia, 'matmul')).toBe('subgroup-matrix');
    expect(subgroupMatrixShape(fake([c('f16', 'f32', 16, 16, 16)], 64))).toEqual({ M: 16, N: 16, K: 16, result: 'f32', wg: 256 });
    expect(subgroupMatrixShape(fake([c('f32', 'f32', 8, 8, 8), c('f16', 'f16', 8, 8, 8)], 32))).toEqual({ M: 8, N: 8, K: 8, result: 'f16', wg: 128 });
    expect(subgroupMatrixShape(fake([c('f16', 'f32', 8, 16, 16)], 16))).toEqual({ M: 8, N: 16, K: 16, result: 'f32', wg: 128 });
    expect(subgroupMatrixShape(fake([c('f32', 'f32', 8, 8, 8)], 32))).toBeNull(); // f16 components only
    expect(subgroupMatrixShape(fake([c('f16', 'f32', 16, 16, 16)], 256))).toBeNull(); // 4 × 256 invocations
  });
});

const f16Round = (x: Float32Array) => fromF16Array(toF16Array(x));

describe('subgroup-matrix GEMM: emulated builtins on the CI adapter', () => {
  // Odd M, N, K (edge tiles, K-slice tails), every A layout, the fused epilogue, f32 and f16 storage.
  // Each fragment operation is a loop the CPU compiler inlines at every call site, so the cases
  // use the shapes with few fragments per block (8×8×8 is 16 per block: ~20 s of lavapipe compile).
  it('rows · Bᵀ (linear), f32 storage rounded to f16, bias + GELU, 16×8×16 fragments', async () => {
    const gpu = await testGpu();
    if (!gpu.f16) return; // the variant stages in f16 (SwiftShader has no shader-f16)
    emu.shape = { M: 16, N: 8, K: 16, result: 'f32', wg: 128, emulate: 32 };
    const [M, N, K] = [77, 70, 45];
    const a = randomArray(M * K, 1), w = randomArray(N * K, 2), bias = randomArray(N, 3);
    const y = matmul(Tensor.from(gpu, a, [M, K]), Tensor.from(gpu, w, [N, K]), { transB: true, bias: Tensor.from(gpu, bias, [N]), gelu: true, variant: 'subgroup-matrix' });
    const want = epilogueRef(matmulRef(f16Round(a), f16Round(w), M, N, K, { transB: true }), N, { bias, gelu: true });
    expect(await y.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-5 });
    emu.shape = null;
  });

  it('batched Aᵀ · B, f16 storage, scale + in-place residual, f16 accumulation, idle subgroups (wg 256)', async () => {
    const gpu = await testGpu();
    if (!gpu.f16) return;
    emu.shape = { M: 16, N: 16, K: 16, result: 'f16', wg: 256, emulate: 32 };
    const [batch, M, N, K] = [2, 70, 77, 40];
    const a = f16Round(randomArray(batch * K * M, 4)), b = f16Round(randomArray(K * N, 5)), scale = f16Round(randomArray(N, 6)), r = f16Round(randomArray(batch * M * N, 7));
    const out = Tensor.from(gpu, r, [batch, M, N], 'f16');
    matmul(Tensor.from(gpu, a, [batch, K, M], 'f16'), Tensor.from(gpu, b, [K, N], 'f16'), { transA: true, scale: Tensor.from(gpu, scale, [N], 'f16'), residual: out, out, variant: 'subgroup-matrix' });
    const want = epilogueRef(matmulRef(a, b, M, N, K, { transA: true, batch, bBatched: false }), N, { scale, residual: r });
    // K = 40 accumulates in f16: the running sum is rounded once per 16 products.
    expect(await out.toFloat32()).toBeAllclose(want, { rtol: 3e-3, atol: 3e-3 });
    emu.shape = null;
  });
});

describe('attentionCoreGemm (matmul + causal softmax + matmul)', () => {
  const B = 2, T = 77, heads = 3, D = 36; // head_dim 12
  const qkv = randomArray(B * T * 3 * D, 11).map((v) => v * 2);
  it.each([
    ['regblock', true], ['regblock', false], ['tiled', true],
  ] as [MatmulVariant, boolean][])('f32 with %s GEMMs, causal=%s: matches attentionCore and the CPU reference', async (variant, causal) => {
    const gpu = await testGpu();
    const x = Tensor.from(gpu, qkv, [B, T, 3 * D]);
    const y = await attentionCoreGemm(x, { heads, causal, variant }).toFloat32();
    expect(y).toBeAllclose(attentionRef(qkv, B, T, D, heads, causal), { rtol: 0, atol: 3e-6 });
    expect(y).toBeAllclose(await attentionCore(x, { heads, causal }).toFloat32(), { rtol: 0, atol: 3e-6 });
  });

  it('f16 storage (regblock GEMMs), causal, 5 heads of 8', async () => {
    const gpu = await testGpu();
    const D5 = 40;
    const h = f16Round(randomArray(B * T * 3 * D5, 12).map((v) => v * 2));
    const run = () => attentionCoreGemm(Tensor.from(gpu, h, [B, T, 3 * D5], 'f16'), { heads: 5, variant: 'regblock' });
    if (!gpu.f16) return expect(run).toThrowError(/no shader-f16/);
    const y = run();
    expect(y.dtype).toBe('f16');
    expect(await y.toFloat32()).toBeAllclose(attentionRef(h, B, T, D5, 5, true), { rtol: 2e-3, atol: 2e-3 });
  });

  it('rejects bad shapes', async () => {
    const gpu = await testGpu();
    expect(() => attentionCoreGemm(Tensor.zeros(gpu, [1, 4, 30]), { heads: 4 })).toThrowError(/split into 4 heads/);
    expect(() => attentionCoreGemm(Tensor.zeros(gpu, [4, 30]), { heads: 1 })).toThrowError(/packed qkv/);
  });
});
