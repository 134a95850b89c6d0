// Public API of echoclip-webgpu. Platform-neutral: runs in Node (Dawn via the `webgpu` package),
// Deno and browsers. Node-only helpers (files, hub cache) live in `echoclip-webgpu/node`.
export * from './errors.js';
export { requestDevice, Gpu, type AdapterDescription, type RequestDeviceOptions, type KernelProfile, type Runtime } from './gpu/device.js';
export { Tensor } from './gpu/tensor.js';
export type { DType } from './gpu/dtype.js';
export { selfTest, type SelfTestResult } from './gpu/self-test.js';
export * from './kernels/index.js';
export { EchoClipModel, type BatchOptions, type LoadModelOptions } from './models/clip.js';
export { planMicroBatch, parseByteSize, GPU_ACTIVATION_BUDGET, SOFTWARE_ACTIVATION_BUDGET, type MicroBatchPlan, type MicroBatchRequest } from './models/batching.js';
export { ECHOCLIP_CONFIG, ECHOCLIP_R_CONFIG, builtinConfig, parseOpenClipConfig, expectedStateDict, validateStateDict, type ClipConfig } from './models/config.js';
export type { WeightDType } from './models/parameters.js';
// The one-line API: EchoClip.fromPretrained('echo-clip') → zeroShot / embedVideo / embedText / search.
export * from './api/index.js';
export * as io from './io/index.js';
export * as tokenizer from './tokenizer/index.js';
export { ClipBpeTokenizer, TemplateTokenizer } from './tokenizer/index.js';
export * as video from './video/index.js';
export * as tasks from './tasks/index.js';
export { Tape, Parameter, AutogradError } from './autograd/tape.js';
export { AdamW, cosineLr } from './autograd/adamw.js';
export { TrainableClip } from './models/train.js';
