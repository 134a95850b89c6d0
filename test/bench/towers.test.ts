// The peers' versions of the towers compute EchoCLIP: the ONNX graphs (run on onnxruntime-node's
// CPU EP) and the TF.js assembly (run on TF.js's CPU backend) of the TINY fixture model reproduce
// PyTorch's embeddings (echoclip_tiny_forward.safetensors).
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/bench/peers/compare.js';
import { IMAGE_INPUT, imageTowerOnnx, readHostWeights, TEXT_INPUT, textTowerOnnx, type HostWeights } from '../../src/bench/peers/onnx-towers.js';
import { createOrtSession } from '../../src/bench/peers/ort.js';
import { tfImageTower, tfTextTower, type Tf } from '../../src/bench/peers/tfjs.js';
import { openWeights } from '../../src/io/weights-node.js';
import type { ClipConfig } from '../../src/models/config.js';
import { FIXTURES, golden, loadGoldens, toleranceFor, type Golden } from '../helpers/goldens.js';

const FILE = 'echoclip_tiny_forward.safetensors';
let config: ClipConfig;
let weights: HostWeights;
let g: Map<string, Golden>;

beforeAll(async () => {
  const w = await openWeights(resolve(FIXTURES, 'echoclip_tiny'));
  config = w.config;
  weights = await readHostWeights(w.source, config);
  await w.source.close();
  g = await loadGoldens(FILE);
});

const px = () => golden(g, 'input.pixel_values');
const ids = () => golden(g, 'input.text_tokens');

describe('ONNX tower graphs (onnxruntime-node CPU EP) vs PyTorch', () => {
  it('image tower reproduces out.image_embeds', async () => {
    const { shape, data } = px();
    const s = await createOrtSession('onnxruntime-node', imageTowerOnnx(weights, config, shape[0]), 'cpu');
    const y = await s.run([{ name: IMAGE_INPUT, data: data as Float32Array, dims: shape }]);
    await s.release();
    const want = golden(g, 'out.image_embeds');
    expect(y.length).toBe(want.data.length);
    expect(maxAbsDiff(y, want.data as Float32Array)).toBeLessThanOrEqual(toleranceFor(FILE, 'out.image_embeds'));
  });

  it('text tower reproduces out.text_embeds', async () => {
    const { shape, data } = ids();
    const s = await createOrtSession('onnxruntime-node', textTowerOnnx(weights, config, shape[0]), 'cpu');
    const y = await s.run([{ name: TEXT_INPUT, data: data as Int32Array, dims: shape }]);
    await s.release();
    const want = golden(g, 'out.text_embeds');
    expect(y.length).toBe(want.data.length);
    expect(maxAbsDiff(y, want.data as Float32Array)).toBeLessThanOrEqual(toleranceFor(FILE, 'out.text_embeds'));
  });

  it('a wrong weight is caught (the check can fail)', async () => {
    const bad = new Map(weights);
    const ln = weights.get('ln_final.bias')!;
    bad.set('ln_final.bias', { shape: ln.shape, data: ln.data.map((v) => v + 0.1) });
    const { shape, data } = ids();
    const s = await createOrtSession('onnxruntime-node', textTowerOnnx(bad, config, shape[0]), 'cpu');
    const y = await s.run([{ name: TEXT_INPUT, data: data as Int32Array, dims: shape }]);
    await s.release();
    expect(maxAbsDiff(y, golden(g, 'out.text_embeds').data as Float32Array)).toBeGreaterThan(toleranceFor(FILE, 'out.text_embeds'));
  });
});

describe('TF.js tower assemblies (CPU backend) vs PyTorch', () => {
  let tf: Tf;
  beforeAll(async () => {
    tf = (await import('@tensorflow/tfjs-core')) as Tf;
    await import('@tensorflow/tfjs-backend-cpu');
    expect(await tf.setBackend('cpu')).toBe(true);
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBe(0);
  });

  it('image tower', async () => {
    const { shape, data } = px();
    const tower = tfImageTower(tf, weights, config, shape[0]);
    const y = await tower.run(data as Float32Array);
    tower.release();
    expect(maxAbsDiff(y, golden(g, 'out.image_embeds').data as Float32Array)).toBeLessThanOrEqual(toleranceFor(FILE, 'out.image_embeds'));
  });

  it('text tower', async () => {
    const { shape, data } = ids();
    const tower = tfTextTower(tf, weights, config, shape[0]);
    const y = await tower.run(data as Int32Array);
    tower.release();
    expect(maxAbsDiff(y, golden(g, 'out.text_embeds').data as Float32Array)).toBeLessThanOrEqual(toleranceFor(FILE, 'out.text_embeds'));
  });
});
