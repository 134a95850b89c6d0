// Run by test/platform/deno.test.ts as `deno run -A test/platform/deno-smoke.ts`: the library's
// public API (the built dist/) under Deno's own WebGPU, printing one JSON line.
import { requestDevice, selfTest } from '../../dist/index.js';

const gpu = await requestDevice();
const result = await selfTest(gpu);
gpu.destroy();
console.log(JSON.stringify(result));
