// AdamW as one fused kernel per parameter (decoupled weight decay, moments and update in a single
// pass), in exactly torch 1.13's single-tensor order:
//   p *= 1 − lr·wd;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
//   p −= (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)
// with open_clip's parameter groups (Parameter.decay), an optional clamp (logit_scale to
// [0, ln 100]) fused into the same pass, and open_clip's warm-up + cosine schedule.
import { ConfigError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { dispatchItems, f32Bits, wgslFoldedMain, wgslParamsStruct, wgslStorage } from '../kernels/wgsl.js';
import type { Parameter } from './tape.js';

const PARAMS = wgslParamsStruct('Params', ['n', 'decay', 'b1', 'omb1', 'b2', 'omb2', 'stepSize', 'bc2sqrt', 'eps', 'clamp', 'lo', 'hi']);

const WGSL =
  PARAMS.code +
  wgslStorage(0, 'G', 'array<f32>', 'read') + wgslStorage(1, 'P', 'array<f32>', 'read_write') +
  wgslStorage(2, 'M', 'array<f32>', 'read_write') + wgslStorage(3, 'V', 'array<f32>', 'read_write') +
  '@group(0) @binding(4) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
  /* wgsl */ `
  if (gid >= p.n) { return; }
  let g = G[gid];
  var w = P[gid] * bitcast<f32>(p.decay);
  let m = M[gid] * bitcast<f32>(p.b1) + g * bitcast<f32>(p.omb1);
  let v = V[gid] * bitcast<f32>(p.b2) + g * g * bitcast<f32>(p.omb2);
  M[gid] = m;
  V[gid] = v;
  let denom = sqrt(v) / bitcast<f32>(p.bc2sqrt) + bitcast<f32>(p.eps);
  w = w - bitcast<f32>(p.stepSize) * (m / denom);
  if (p.clamp != 0u) { w = clamp(w, bitcast<f32>(p.lo), bitcast<f32>(p.hi)); }
  P[gid] = w;
}
`;

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** open_clip defaults for fine-tuning CLIP (main.py: lr 5e-4 is for training from scratch). */
export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-5, betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.2 };

/** open_clip's cosine_lr: linear warm-up to `base` over `warmup` steps, then half a cosine to 0. */
export function cosineLr(step: number, base: number, warmup: number, total: number): number {
  if (step < warmup) return (base * (step + 1)) / warmup;
  const e = step - warmup;
  const es = total - warmup;
  return es <= 0 ? base : 0.5 * (1 + Math.cos((Math.PI * e) / es)) * base;
}

export const LOGIT_SCALE_MAX = Math.log(100);

export class AdamW {
  /** Steps taken (the `t` of the bias corrections). */
  step = 0;
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();

  constructor(
    readonly gpu: Gpu,
    readonly params: readonly Parameter[],
    readonly opts: AdamWOptions,
  ) {
    const [b1, b2] = opts.betas;
    if (!(opts.lr >= 0) || !(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1) || !(opts.eps > 0) || !(opts.weightDecay >= 0)) {
      throw new ConfigError('AdamW', `needs lr >= 0, betas in [0, 1), eps > 0, weight decay >= 0; got ${JSON.stringify(opts)}`);
    }
  }

  private moment(map: Map<string, Tensor>, p: Parameter): Tensor {
    let t = map.get(p.name);
    if (!t) {
      t = Tensor.zeros(this.gpu, p.value.shape, 'f32', `adamw.${p.name}`);
      map.set(p.name, t);
    }
    return t;
  }

  /**
   * One update of every trainable parameter that has a gradient, at learning rate `lr` (default:
   * the configured one). Parameters named logit_scale are clamped to [0, ln 100] afterwards.
   */
  update(lr = this.opts.lr): void {
    this.step++;
    const [b1, b2] = this.opts.betas;
    const t = this.step;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    for (const p of this.params) {
      if (!p.trainable || !p.grad) continue;
      const clamp = p.name === 'logit_scale';
      dispatchItems(this.gpu, 'adamw', WGSL, [p.grad, p.value, this.moment(this.m, p), this.moment(this.v, p)], 3, PARAMS, [
        p.value.size, f32Bits(1 - lr * (p.decay ? this.opts.weightDecay : 0)), f32Bits(b1), f32Bits(1 - b1), f32Bits(b2), f32Bits(1 - b2),
        f32Bits(lr / bc1), f32Bits(Math.sqrt(bc2)), f32Bits(this.opts.eps), clamp ? 1 : 0, f32Bits(0), f32Bits(LOGIT_SCALE_MAX),
      ], p.value.size);
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  release(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.release();
    this.m.clear();
    this.v.clear();
  }
}
