// Acceptance: two AdamW steps of the tiny EchoCLIP against PyTorch (echoclip_tiny_finetune):
// the loss before/after each step, every parameter gradient at the initial weights and every
// parameter after the two steps (open_clip parameter groups, torch 1.13 AdamW).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from '../../src/autograd/adamw.js';
import { Tape } from '../../src/autograd/tape.js';
import type { Gpu } from '../../src/gpu/device.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { openWeights } from '../../src/io/weights-node.js';
import { TrainableClip } from '../../src/models/train.js';
import { FIXTURES, golden, loadGoldens, toleranceFor, type Golden } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';

const FILE = 'echoclip_tiny_finetune.safetensors';
const EMB = 'token_embedding.weight';

describe('tiny EchoCLIP fine-tune vs PyTorch (2 AdamW steps, drop_path 0)', () => {
  let gpu: Gpu;
  let model: TrainableClip;
  let g: Map<string, Golden>;
  let meta: Record<string, string>;
  const losses: number[] = [];
  const grads = new Map<string, Float32Array>();

  const step = async (opt: AdamW | null): Promise<number> => {
    const px = golden(g, 'input.pixel_values'), ids = golden(g, 'input.text_tokens');
    const tape = new Tape(gpu);
    const { loss } = model.forward(tape, px.data as Float32Array, ids.data as Int32Array);
    const value = (await loss.value.toFloat32())[0];
    if (opt) {
      tape.backward(loss);
      if (grads.size === 0) for (const p of model.params) grads.set(p.name, (await model.grad(p.name))!);
      opt.update();
      opt.zeroGrad();
    }
    tape.release();
    return value;
  };

  beforeAll(async () => {
    gpu = await testGpu();
    g = await loadGoldens(FILE);
    meta = (await parseSafetensors(new Uint8Array(readFileSync(resolve(FIXTURES, FILE))), FILE)).metadata as Record<string, string>;
    const w = await openWeights(resolve(FIXTURES, 'echoclip_tiny'));
    model = await TrainableClip.load(gpu, w.source, w.config);
    await w.source.close();
    const opt = new AdamW(gpu, model.params, { lr: 1e-4, betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.2 });
    losses.push(await step(opt), await step(opt), await step(null));
    opt.release();
  }, 120_000);

  afterAll(() => model?.release());

  it('uses open_clip parameter groups (the 63 no-weight-decay tensors)', () => {
    const want = new Set(JSON.parse(meta.no_weight_decay_params) as string[]);
    expect(want.size).toBe(63);
    expect(new Set(model.params.filter((p) => !p.decay).map((p) => p.name))).toEqual(want);
  });

  it('loss before each step and after both', () => {
    ['loss.step0', 'loss.step1', 'loss.after'].forEach((name, i) => {
      expect(Math.abs(losses[i] - golden(g, name).data[0]), name).toBeLessThanOrEqual(toleranceFor(FILE, name));
    });
  });

  it('every parameter gradient at the initial weights', () => {
    for (const p of model.params) {
      const got = grads.get(p.name)!;
      if (p.name === EMB) continue;
      const name = `grad.${p.name}`;
      expect(got, name).toBeAllclose(golden(g, name).data, { rtol: 0, atol: toleranceFor(FILE, name) });
    }
  });

  it('token embedding gradient: the stored sparse rows, exact zeros elsewhere', () => {
    const got = grads.get(EMB)!;
    const rows = golden(g, `grad.${EMB}.sparse_rows`).data, vals = golden(g, `grad.${EMB}.sparse_values`).data;
    const D = vals.length / rows.length;
    const atol = toleranceFor(FILE, `grad.${EMB}`);
    const want = new Float32Array(got.length);
    rows.forEach((r, i) => want.set(vals.subarray(i * D, (i + 1) * D), r * D));
    expect(got).toBeAllclose(want, { rtol: 0, atol });
    const sparse = new Set(rows);
    for (let r = 0; r < got.length / D; r++) if (!sparse.has(r)) for (let d = 0; d < D; d++) if (got[r * D + d] !== 0) throw new Error(`row ${r} of the embedding gradient should be exactly 0`);
  });

  it('every parameter after two steps', async () => {
    const sd = new Map(await model.stateDict());
    for (const [name, t] of sd) {
      if (name === EMB) continue;
      expect(t.data, name).toBeAllclose(golden(g, `param.${name}`).data, { rtol: 0, atol: toleranceFor(FILE, `param.${name}`) });
    }
    const emb = sd.get(EMB)!.data as Float32Array;
    const atol = toleranceFor(FILE, `param.${EMB}`);
    for (const kind of ['sparse', 'check'] as const) {
      const rows = golden(g, `param.${EMB}.${kind === 'sparse' ? 'sparse_rows' : 'check_rows'}`).data;
      const vals = golden(g, `param.${EMB}.${kind === 'sparse' ? 'sparse_values' : 'check_values'}`).data;
      const D = vals.length / rows.length;
      const got = new Float32Array(vals.length);
      rows.forEach((r, i) => got.set(emb.subarray(r * D, (r + 1) * D), i * D));
      expect(got, `${EMB} ${kind} rows`).toBeAllclose(vals, { rtol: 0, atol });
    }
  });

  it('freezing: a frozen tower gets no gradients (and no backward work); last-N-blocks keeps the heads', async () => {
    const px = golden(g, 'input.pixel_values'), ids = golden(g, 'input.text_tokens');
    model.freeze({ image: true });
    const tape = new Tape(gpu);
    tape.backward(model.forward(tape, px.data as Float32Array, ids.data as Int32Array).loss);
    tape.release();
    for (const p of model.params) {
      expect(p.grad === null, p.name).toBe(p.name.startsWith('visual.'));
      p.zeroGrad();
    }
    model.freeze({ lastBlocks: 1 });
    const trainable = new Set(model.params.filter((p) => p.trainable).map((p) => p.name));
    expect(trainable.has('visual.trunk.stages.3.blocks.0.mlp.fc1.weight')).toBe(true);
    expect(trainable.has('visual.trunk.stages.2.blocks.1.mlp.fc1.weight')).toBe(false);
    expect(trainable.has('transformer.resblocks.1.attn.in_proj_weight')).toBe(true);
    expect(trainable.has('transformer.resblocks.0.attn.in_proj_weight')).toBe(false);
    expect(trainable.has('token_embedding.weight')).toBe(false);
    for (const head of ['logit_scale', 'text_projection', 'visual.head.proj.weight', 'ln_final.weight', 'visual.trunk.head.norm.bias']) expect(trainable.has(head), head).toBe(true);
    model.freeze({});
    expect(model.params.every((p) => p.trainable)).toBe(true);
  });
});

// Mixed f16/f32 (Tape 'mixed'): the same two steps against the same f32 PyTorch goldens, at
// tolerances that f16 storage of the matrix-op weights and branch activations (11-bit mantissa)
// allows. Measured on lavapipe: the loss within 3e-5 of PyTorch's, the worst gradient
// (ln_final.weight) within 0.73 % of its largest value (f32 path: 1.2e-5).
describe('tiny EchoCLIP fine-tune in mixed f16/f32 precision vs the f32 PyTorch goldens', () => {
  let gpu: Gpu;
  let g: Map<string, Golden>;
  let model: TrainableClip | null = null;
  const losses: number[] = [];
  const grads = new Map<string, Float32Array>();
  let halfWeights = 0;
  let f16Activations = 0;

  beforeAll(async () => {
    gpu = await testGpu();
    if (!gpu.f16) return;
    g = await loadGoldens(FILE);
    const w = await openWeights(resolve(FIXTURES, 'echoclip_tiny'));
    model = await TrainableClip.load(gpu, w.source, w.config);
    await w.source.close();
    const opt = new AdamW(gpu, model.params, { lr: 1e-4, betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.2 });
    const px = golden(g, 'input.pixel_values'), ids = golden(g, 'input.text_tokens');
    for (let s = 0; s < 3; s++) {
      const tape = new Tape(gpu, 'mixed');
      const out = model.forward(tape, px.data as Float32Array, ids.data as Int32Array);
      losses.push((await out.loss.value.toFloat32())[0]);
      if (s < 2) {
        tape.backward(out.loss);
        if (grads.size === 0) {
          for (const p of model.params) grads.set(p.name, (await model.grad(p.name))!);
          halfWeights = model.params.filter((p) => tape.matrixWeight(p).dtype === 'f16').length;
        }
        opt.update();
        opt.zeroGrad();
      }
      if (s === 0) f16Activations = [out.image, out.text, out.loss].filter((v) => v.value.dtype === 'f16').length;
      tape.release();
    }
    opt.release();
  }, 120_000);

  afterAll(() => model?.release());

  it('is refused without shader-f16, and keeps master weights, gradients, features and loss in f32', () => {
    if (!gpu.f16) {
      expect(() => new Tape(gpu, 'mixed')).toThrowError(/shader-f16/);
      return;
    }
    // Every ≥ 2-D weight multiplies as f16 (convs, linears, projections, the depthwise taps).
    expect(halfWeights).toBe(model!.params.filter((p) => p.value.shape.length >= 2).length);
    expect(model!.params.every((p) => p.value.dtype === 'f32' && (!p.grad || p.grad.dtype === 'f32'))).toBe(true);
    expect(f16Activations).toBe(0);
  });

  it('loss before each step and after both within 2e-3', () => {
    if (!gpu.f16) return;
    ['loss.step0', 'loss.step1', 'loss.after'].forEach((name, i) => {
      expect(Math.abs(losses[i] - golden(g, name).data[0]), name).toBeLessThanOrEqual(2e-3);
    });
  });

  it('every parameter gradient within 2 % of its largest value (the f32 path: atol 2e-5)', () => {
    if (!gpu.f16) return;
    for (const p of model!.params) {
      if (p.name === EMB) continue;
      const want = golden(g, `grad.${p.name}`).data as Float32Array;
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(grads.get(p.name)!, p.name).toBeAllclose(want, { rtol: 0, atol: Math.max(2e-2 * scale, 2e-5) });
    }
  });
});
