// Both tiny fixture models against every activation PyTorch captured (echoclip_tiny_forward and
// echoclip_r_tiny_forward), from .safetensors and from the published .bin format.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/device.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { openWeights } from '../../src/io/weights-node.js';
import { EchoClipModel } from '../../src/models/clip.js';
import { l2NormalizeRows as l2 } from '../../src/tasks/array.js';

const l2NormalizeRows = (x: Float32Array, d: number) => l2({ data: x, shape: [x.length / d, d] }).data;
import { permuteHost } from '../../src/kernels/conv2d.js';
import { FIXTURES, golden, loadGoldens, toleranceFor, type Golden } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';

interface Captured { name: string; t: Tensor }

async function run(model: EchoClipModel, g: Map<string, Golden>) {
  const gpu = model.gpu;
  const { Tensor } = await import('../../src/gpu/tensor.js');
  const px = golden(g, 'input.pixel_values');
  const ids = golden(g, 'input.text_tokens');
  const caps: Captured[] = [];
  const capture = (name: string, t: Tensor) => caps.push({ name, t });
  const img = model.encodeImage(Tensor.from(gpu, px.data as Float32Array, px.shape), capture);
  const txt = model.encodeText(Tensor.from(gpu, ids.data as Int32Array, ids.shape, 'i32'), capture);
  const acts = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const c of caps) acts.set(c.name, { shape: c.t.shape, data: await c.t.toFloat32() });
  return { img: await img.toFloat32(), txt: await txt.toFloat32(), acts };
}

/** Our NHWC [N, H, W, C] activation as PyTorch's NCHW. */
function asNchw(a: { shape: readonly number[]; data: Float32Array }): Float32Array {
  return a.shape.length === 4 ? permuteHost(a.data, a.shape, [0, 3, 1, 2]).data : a.data;
}

function logits(img: Float32Array, txt: Float32Array, D: number, scale: number): Float32Array {
  const a = l2NormalizeRows(img, D), b = l2NormalizeRows(txt, D);
  const N = a.length / D, K = b.length / D;
  const out = new Float32Array(N * K);
  for (let i = 0; i < N; i++) for (let j = 0; j < K; j++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += a[i * D + d] * b[j * D + d];
    out[i * K + j] = scale * s;
  }
  return out;
}

describe.each([
  ['echoclip_tiny', 'echoclip_tiny_forward.safetensors'],
  ['echoclip_r_tiny', 'echoclip_r_tiny_forward.safetensors'],
])('%s forward vs PyTorch', (dir, file) => {
  let gpu: Gpu;
  let model: EchoClipModel;
  let g: Map<string, Golden>;
  let result: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    gpu = await testGpu();
    g = await loadGoldens(file);
    const w = await openWeights(resolve(FIXTURES, dir));
    model = await EchoClipModel.load(gpu, w.source, w.config);
    await w.source.close();
    result = await run(model, g);
  });
  afterAll(() => model?.release());

  it('matches every captured activation within tolerances.json', () => {
    const checked: string[] = [];
    for (const [name, ref] of g) {
      if (!name.startsWith('act.') || name === 'act.text.eot_index' || name === 'act.text.token_embedding') continue;
      const ours = result.acts.get(name.slice(4));
      expect(ours, `activation ${name} was not produced`).toBeDefined();
      const atol = toleranceFor(file, name);
      expect(asNchw(ours!), name).toBeAllclose(ref.data, { rtol: 0, atol });
      checked.push(name);
    }
    // Every visual stage and text block was compared (not an empty loop).
    expect(checked.length).toBeGreaterThanOrEqual(file.includes('_r_') ? 12 : 40);
  });

  it('matches encode_image / encode_text, normalised embeddings, logits and loss', () => {
    const D = model.config.embedDim;
    const tol = (n: string) => toleranceFor(file, n);
    expect(result.img).toBeAllclose(golden(g, 'out.image_embeds').data, { rtol: 0, atol: tol('out.image_embeds') });
    expect(result.txt).toBeAllclose(golden(g, 'out.text_embeds').data, { rtol: 0, atol: tol('out.text_embeds') });
    expect(l2NormalizeRows(result.img, D)).toBeAllclose(golden(g, 'out.image_embeds_normalized').data, { rtol: 0, atol: tol('out.image_embeds_normalized') });
    expect(l2NormalizeRows(result.txt, D)).toBeAllclose(golden(g, 'out.text_embeds_normalized').data, { rtol: 0, atol: tol('out.text_embeds_normalized') });
    const scale = Math.exp(model.logitScale);
    expect(Math.abs(scale - golden(g, 'out.logit_scale_exp').data[0])).toBeLessThanOrEqual(tol('out.logit_scale_exp'));
    const lpi = logits(result.img, result.txt, D, scale);
    expect(lpi).toBeAllclose(golden(g, 'out.logits_per_image').data, { rtol: 0, atol: tol('out.logits_per_image') });
    // ClipLoss on the 2 images and the first 2 texts: (CE(rows) + CE(cols)) / 2.
    const K = result.txt.length / D;
    const l = [[lpi[0], lpi[1]], [lpi[K], lpi[K + 1]]];
    const ce = (rows: number[][]) => rows.reduce((s, r, i) => s - (r[i] - Math.log(r.reduce((a, v) => a + Math.exp(v), 0))), 0) / rows.length;
    const loss = (ce(l) + ce([[l[0][0], l[1][0]], [l[0][1], l[1][1]]])) / 2;
    expect(Math.abs(loss - golden(g, 'loss.clip_loss').data[0])).toBeLessThanOrEqual(tol('loss.clip_loss'));
  });
});

describe('weights formats', () => {
  it.each(['echoclip_tiny', 'echoclip_r_tiny'])('%s: .bin and .safetensors load to identical GPU weights and features', async (dir) => {
    const gpu = await testGpu();
    const a = await openWeights(resolve(FIXTURES, dir, 'open_clip_model.safetensors'));
    const b = await openWeights(resolve(FIXTURES, dir, 'open_clip_pytorch_model.bin'));
    expect(a.format).toBe('safetensors');
    expect(b.format).toBe('pytorch');
    expect(b.source.tensors.map((t) => t.name)).toEqual(a.source.tensors.map((t) => t.name));
    for (const t of a.source.tensors) {
      const x = await a.source.read(t.name), y = await b.source.read(t.name);
      expect(y.shape).toEqual(x.shape);
      expect(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength).equals(Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength)), t.name).toBe(true);
    }
    const ma = await EchoClipModel.load(gpu, a.source, a.config);
    const mb = await EchoClipModel.load(gpu, b.source, b.config);
    const ids = new Int32Array(77);
    ids[0] = 49406; ids[1] = 320; ids[2] = 49407;
    expect(Array.from(await mb.encodeTexts(ids))).toEqual(Array.from(await ma.encodeTexts(ids)));
    ma.release(); mb.release();
    await a.source.close(); await b.source.close();
  });
});
