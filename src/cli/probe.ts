import { requestDevice } from '../gpu/device.js';
import { selfTest } from '../gpu/self-test.js';
import { flagString, parseArgs } from './args.js';

/** `echoclip probe [--device auto|lavapipe|swiftshader|ICD.json] [--json]`: adapter + known-answer matmul. */
export async function probeCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { device: 'value', json: 'switch' }, 'probe');
  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  try {
    const result = { adapter: gpu.adapter, limits: { maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize, maxBufferSize: gpu.limits.maxBufferSize, maxComputeWorkgroupStorageSize: gpu.limits.maxComputeWorkgroupStorageSize, maxStorageBuffersPerShaderStage: gpu.limits.maxStorageBuffersPerShaderStage }, kernelProfile: gpu.kernelProfile, selfTest: await selfTest(gpu) };
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      const a = gpu.adapter;
      process.stdout.write(`adapter: ${a.description} [${a.runtime}${a.fallback ? ', software' : ''}]\nf16: ${gpu.f16}  subgroups: ${gpu.subgroups} (size ${a.subgroupMinSize ?? '?'})  timestamp-query: ${gpu.timestampQuery}\nkernels: ${gpu.kernelProfile}\nknown-answer matmul: ${result.selfTest.pass ? 'pass' : 'FAIL'}\n`);
    }
    return result.selfTest.pass ? 0 : 1;
  } finally {
    gpu.destroy();
  }
}
