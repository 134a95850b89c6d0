// The autograd machinery on small shapes: gradient accumulation across backward() calls, shared
// inputs, freezing, drop path, misuse errors, the fused AdamW against a CPU reference, the
// learning-rate schedule and the trainer state round trip.
import { describe, expect, it } from 'vitest';
import { AdamW, cosineLr, LOGIT_SCALE_MAX } from '../../src/autograd/adamw.js';
import * as op from '../../src/autograd/ops.js';
import { Rng } from '../../src/autograd/rng.js';
import { AutogradError, Parameter, Tape, usesWeightDecay } from '../../src/autograd/tape.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

async function setup() {
  const gpu = await testGpu();
  const x = randomArray(12, 1), w = randomArray(15, 2), b = randomArray(5, 3);
  const param = (name: string, data: Float32Array, shape: number[]) => new Parameter(name, Tensor.from(gpu, data, shape), usesWeightDecay(name, shape));
  return { gpu, x, w, b, param };
}

/** loss = Σ linear(x, W, b) ⊙ c for a fixed c, so dW = cᵀx and db = Σ c. */
function lossOf(t: Tape, x: Tensor, W: Parameter, b: Parameter, c: Tensor) {
  const y = op.linear(t, t.constant(x), W, b);
  // Σ y ⊙ c as a 1×1 matmul: (y viewed [1, 20]) · (c [20, 1])
  const flat = op.reshape(t, y, [1, 20]);
  return op.matmul(t, flat, t.constant(c));
}

describe('Tape', () => {
  it('accumulates parameter gradients over two backward passes and matches the analytic gradient', async () => {
    const { gpu, x, w, b, param } = await setup();
    const W = param('fc.weight', w, [5, 3]), B = param('fc.bias', b, [5]);
    const cData = randomArray(20, 4);
    const c = Tensor.from(gpu, cData, [20, 1]);
    const xt = Tensor.from(gpu, x, [4, 3]);
    for (let pass = 0; pass < 2; pass++) {
      const t = new Tape(gpu);
      t.backward(lossOf(t, xt, W, B, c));
      t.release();
    }
    const dW = new Float64Array(15), db = new Float64Array(5);
    for (let r = 0; r < 4; r++) for (let o = 0; o < 5; o++) {
      db[o] += 2 * cData[r * 5 + o];
      for (let i = 0; i < 3; i++) dW[o * 3 + i] += 2 * cData[r * 5 + o] * x[r * 3 + i];
    }
    expect(await W.grad!.toFloat32()).toBeAllclose(dW, { rtol: 1e-5, atol: 1e-5 });
    expect(await B.grad!.toFloat32()).toBeAllclose(db, { rtol: 1e-5, atol: 1e-5 });
    W.zeroGrad();
    expect(W.grad).toBeNull();
  });

  it('a frozen parameter gets no gradient; a graph without trainable inputs records nothing', async () => {
    const { gpu, x, w, b, param } = await setup();
    const W = param('fc.weight', w, [5, 3]), B = param('fc.bias', b, [5]);
    W.trainable = false;
    const t = new Tape(gpu);
    t.backward(lossOf(t, Tensor.from(gpu, x, [4, 3]), W, B, Tensor.from(gpu, randomArray(20, 4), [20, 1])));
    t.release();
    expect(W.grad).toBeNull();
    expect(B.grad).not.toBeNull();
    B.trainable = false;
    const t2 = new Tape(gpu);
    const y = op.linear(t2, t2.constant(Tensor.from(gpu, x, [4, 3])), W, B);
    expect(y.requiresGrad).toBe(false);
    t2.release();
  });

  it('an input used twice gets the sum of both gradients (add)', async () => {
    const { gpu, param } = await setup();
    const p = param('p', new Float32Array([1, 2, 3, 4]), [4]);
    const t = new Tape(gpu);
    const s = op.add(t, p, p);
    const loss = op.matmul(t, op.reshape(t, s, [1, 4]), t.constant(Tensor.from(gpu, new Float32Array([1, 10, 100, 1000]), [4, 1])));
    t.backward(loss);
    t.release();
    expect(await p.grad!.toFloat32()).toBeAllclose([2, 20, 200, 2000]);
  });

  it('drop path scales whole samples, forward and backward, and is reproducible from the seed', async () => {
    const { gpu, param } = await setup();
    const p = param('h', new Float32Array(6).fill(1), [3, 2]);
    const factors = (seed: number) => { const r = new Rng(seed); return Float32Array.from({ length: 3 }, () => (r.next() < 0.5 ? 2 : 0)); };
    expect(factors(5)).toEqual(factors(5));
    const t = new Tape(gpu);
    const f = new Float32Array([2, 0, 2]);
    const y = op.dropPath(t, p, f);
    expect(await y.value.toFloat32()).toBeAllclose([2, 2, 0, 0, 2, 2]);
    expect(op.dropPath(t, p, null)).toBe(p);
    t.release();
  });

  it('refuses misuse: non-scalar loss, backward twice, recording after release', async () => {
    const { gpu, param } = await setup();
    const p = param('p', new Float32Array([1, 2]), [2]);
    const t = new Tape(gpu);
    const y = op.add(t, p, p);
    expect(() => t.backward(y)).toThrow(AutogradError);
    const t2 = new Tape(gpu);
    const l = op.matmul(t2, op.reshape(t2, p, [1, 2]), t2.constant(Tensor.from(gpu, new Float32Array([1, 1]), [2, 1])));
    t2.backward(l);
    expect(() => t2.backward(l)).toThrow(/already ran/);
    t2.release();
    expect(() => op.add(t2, p, p)).toThrow(/cannot record/);
  });
});

describe('AdamW', () => {
  it('matches a CPU reference of torch 1.13 AdamW over 3 steps, decoupled decay per group, logit_scale clamp', async () => {
    const gpu = await testGpu();
    const w0 = randomArray(8, 9), g = randomArray(8, 10);
    const W = new Parameter('fc.weight', Tensor.from(gpu, w0, [2, 4]), true);
    const B = new Parameter('fc.bias', Tensor.from(gpu, w0, [8]), false);
    const ls = new Parameter('logit_scale', Tensor.from(gpu, new Float32Array([4.6]), []), false);
    const opts = { lr: 1e-2, betas: [0.9, 0.98] as [number, number], eps: 1e-6, weightDecay: 0.2 };
    const opt = new AdamW(gpu, [W, B, ls], opts);
    const ref = (decay: boolean) => {
      const p = Float64Array.from(w0), m = new Float64Array(8), v = new Float64Array(8);
      for (let t = 1; t <= 3; t++) for (let i = 0; i < 8; i++) {
        p[i] *= 1 - opts.lr * (decay ? opts.weightDecay : 0);
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.98 * v[i] + 0.02 * g[i] * g[i];
        p[i] -= (opts.lr / (1 - 0.9 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.98 ** t) + opts.eps);
      }
      return p;
    };
    for (let t = 0; t < 3; t++) {
      W.grad = Tensor.from(gpu, g, [2, 4]);
      B.grad = Tensor.from(gpu, g, [8]);
      ls.grad = Tensor.from(gpu, new Float32Array([-1]), []);
      opt.update();
      opt.zeroGrad();
    }
    expect(opt.step).toBe(3);
    expect(await W.value.toFloat32()).toBeAllclose(ref(true), { rtol: 1e-5, atol: 1e-6 });
    expect(await B.value.toFloat32()).toBeAllclose(ref(false), { rtol: 1e-5, atol: 1e-6 });
    expect((await ls.value.toFloat32())[0]).toBeCloseTo(Math.fround(LOGIT_SCALE_MAX), 6);
    opt.release();
    expect(() => new AdamW(gpu, [], { ...opts, betas: [1, 0.9] })).toThrow(/betas/);
  });

  it('parameter groups: no decay for 1-D tensors, norms, biases and logit_scale', () => {
    expect(usesWeightDecay('visual.trunk.stages.0.blocks.0.mlp.fc1.weight', [128, 32])).toBe(true);
    expect(usesWeightDecay('token_embedding.weight', [49408, 64])).toBe(true);
    expect(usesWeightDecay('visual.trunk.stages.0.blocks.0.gamma', [32])).toBe(false);
    expect(usesWeightDecay('transformer.resblocks.0.attn.in_proj_bias', [192])).toBe(false);
    expect(usesWeightDecay('logit_scale', [])).toBe(false);
  });

  it('warm-up + cosine schedule (open_clip cosine_lr)', () => {
    expect(cosineLr(0, 1, 4, 20)).toBeCloseTo(0.25);
    expect(cosineLr(3, 1, 4, 20)).toBeCloseTo(1);
    expect(cosineLr(4, 1, 4, 20)).toBeCloseTo(1);
    expect(cosineLr(12, 1, 4, 20)).toBeCloseTo(0.5);
    expect(cosineLr(20, 1, 4, 20)).toBeCloseTo(0);
  });
});

describe('Rng', () => {
  it('is reproducible from a stored state and gives permutations', () => {
    const a = new Rng(42);
    a.next();
    const saved = a.state;
    const x = [a.next(), a.next(), a.int(10)];
    const b = new Rng(0);
    b.state = saved;
    expect([b.next(), b.next(), b.int(10)]).toEqual(x);
    expect([...new Rng(3).permutation(10)].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
