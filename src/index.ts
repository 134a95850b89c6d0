// Public API of echoclip-webgpu. Platform-neutral: runs in Node (Dawn via the `webgpu` package),
// Deno and browsers. Node-only helpers (file system, hub cache) live in `echoclip-webgpu/node`.
export * from './errors.js';
export { requestDevice, Gpu, type AdapterDescription, type RequestDeviceOptions, type KernelProfile, type Runtime } from './gpu/device.js';
export { Tensor } from './gpu/tensor.js';
export type { DType } from './gpu/dtype.js';
export { matmul, type MatmulOptions, type MatmulVariant } from './kernels/matmul.js';
export { selfTest, type SelfTestResult } from './gpu/self-test.js';
