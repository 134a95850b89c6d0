// A full-size state dict with the published layout (names, shapes, order, F32) and seeded values
// scaled like a trained network (weights ~ U(±1/√fan_in), norms ≈ 1, small biases), so benchmarks
// run the real architecture with realistic magnitudes without the 606 MB download.
import type { HostTensor } from '../io/dtype.js';
import type { TensorSource } from '../io/source.js';
import { expectedStateDict, type ClipConfig } from '../models/config.js';

function fill(out: Float32Array, seed: number, lo: number, hi: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5; // xorshift32
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
}

export function syntheticWeights(config: ClipConfig, seed = 1): TensorSource {
  const infos = expectedStateDict(config).map((e) => ({ name: e.name, dtype: 'F32' as const, shape: e.shape }));
  const index = new Map(infos.map((t) => [t.name, t]));
  return {
    format: 'safetensors',
    tensors: infos,
    metadata: { generator: 'echoclip-webgpu synthetic' },
    get: (name) => index.get(name),
    async read(name: string): Promise<HostTensor> {
      const info = index.get(name);
      if (!info) throw new Error(`synthetic weights: no tensor ${name}`);
      const n = info.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const h = [...name].reduce((a, c) => (Math.imul(a, 31) + c.charCodeAt(0)) >>> 0, seed);
      if (name === 'logit_scale') data[0] = Math.log(1 / 0.07);
      else if (/(norm|ln_\d|ln_final|stem\.1|downsample\.0)\.weight$/.test(name)) fill(data, h, 0.9, 1.1);
      else if (/gamma$/.test(name)) fill(data, h, 0.05, 0.15);
      else if (/bias$/.test(name)) fill(data, h, -0.02, 0.02);
      else {
        const fanIn = info.shape.length > 1 ? n / info.shape[0] : info.shape[0];
        const r = /embedding/.test(name) ? 0.02 : 1 / Math.sqrt(fanIn);
        fill(data, h, -r, r);
      }
      return { dtype: 'F32', shape: [...info.shape], data };
    },
    async close() {},
  };
}
