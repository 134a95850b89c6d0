// The PyTorch peer (bench/peers/torch_clip.py) on this machine's torch: found by the TS probe,
// it must reproduce the tiny fixture goldens (open_clip + timm computed them), which proves the
// two towers it builds are the architecture the library implements. Where no python3 imports
// torch, the probe must say so (null + reason) instead of failing later.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { featureError, findTorchScript, probePytorch, writeModelFiles, type PytorchPeer } from '../../src/bench/peers/pytorch.js';
import { openWeightsFile } from '../../src/io/weights-node.js';
import { parseOpenClipConfig } from '../../src/models/config.js';
import { readFileSync } from 'node:fs';
import { FIXTURES, golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import '../helpers/gpu.js'; // toBeAllclose

const probe = await probePytorch();
const MODELS = ['echoclip_tiny', 'echoclip_r_tiny'] as const;

describe('PyTorch peer: discovery', () => {
  it('finds torch_clip.py from the checkout, and through ECHOCLIP_PY_DIR', () => {
    expect(findTorchScript()).toBe(resolve(import.meta.dirname, '../../bench/peers/torch_clip.py'));
    const prev = process.env.ECHOCLIP_PY_DIR;
    try {
      process.env.ECHOCLIP_PY_DIR = resolve(import.meta.dirname, '../../bench/peers');
      expect(findTorchScript('/')).toBe(resolve(import.meta.dirname, '../../bench/peers/torch_clip.py'));
      process.env.ECHOCLIP_PY_DIR = '/nonexistent';
      expect(findTorchScript()).toBeNull();
    } finally {
      if (prev === undefined) delete process.env.ECHOCLIP_PY_DIR;
      else process.env.ECHOCLIP_PY_DIR = prev;
    }
  });

  it('returns null with every candidate\'s reason when no interpreter imports torch', async () => {
    const r = await probePytorch({ candidates: ['/nonexistent/python3', process.execPath] });
    expect(r.peer).toBeNull();
    expect(r.reason).toMatch(/^no python3 with torch: \/nonexistent\/python3: ENOENT.*; .*node.*: exit/);
    const prev = process.env.ECHOCLIP_PYTHON;
    process.env.ECHOCLIP_PYTHON = 'none';
    try {
      expect(await probePytorch()).toEqual({ peer: null, reason: expect.stringMatching(/turns the PyTorch peer off/) });
    } finally {
      if (prev === undefined) delete process.env.ECHOCLIP_PYTHON;
      else process.env.ECHOCLIP_PYTHON = prev;
    }
  });

  it('either finds torch or says why not', () => {
    if (probe.peer) {
      expect(probe.reason).toBeNull();
      expect(probe.peer.info.torch).toMatch(/^\d+\.\d+/);
    } else {
      // CI installs Debian's python3-torch (scripts/setup-machine.sh), so there this branch means
      // the install failed: the reason says which interpreters were tried and what each said.
      expect(probe.reason).toMatch(/torch/);
    }
  });
});

describe.runIf(probe.peer)('PyTorch peer on the tiny fixture models', () => {
  const peer = probe.peer as PytorchPeer;

  it.each(MODELS)('%s: features match the open_clip goldens', async (name) => {
    const config = parseOpenClipConfig(readFileSync(resolve(FIXTURES, name, 'open_clip_config.json'), 'utf8'));
    const g = await loadGoldens(`${name}_forward.safetensors`);
    const model = { weights: resolve(FIXTURES, name, 'open_clip_model.safetensors'), config: resolve(FIXTURES, name, 'open_clip_config.json'), dir: resolve(FIXTURES, name) };
    const out = await peer.features(model, { pixels: golden(g, 'input.pixel_values').data as Float32Array, ids: golden(g, 'input.text_tokens').data as Int32Array }, config, { timeoutMs: 120_000, device: 'cpu' });
    expect(out.device).toBe('cpu');
    expect(out.image!).toBeAllclose(golden(g, 'out.image_embeds').data, { rtol: 0, atol: toleranceFor(`${name}_forward`, 'out.image_embeds') });
    expect(out.text!).toBeAllclose(golden(g, 'out.text_embeds').data, { rtol: 0, atol: toleranceFor(`${name}_forward`, 'out.text_embeds') });
  });

  it('reads the weights our writer produces (F32 exact, F16 within f16 rounding)', async () => {
    const name = 'echoclip_tiny';
    const config = parseOpenClipConfig(readFileSync(resolve(FIXTURES, name, 'open_clip_config.json'), 'utf8'));
    const g = await loadGoldens(`${name}_forward.safetensors`);
    const src = await openWeightsFile(resolve(FIXTURES, name, 'open_clip_model.safetensors'));
    const inputs = { pixels: golden(g, 'input.pixel_values').data as Float32Array, ids: golden(g, 'input.text_tokens').data as Int32Array };
    for (const dtype of ['F32', 'F16'] as const) {
      const files = await writeModelFiles(src, config, dtype);
      try {
        const out = await peer.features(files, inputs, config, { timeoutMs: 120_000, device: 'cpu' });
        const img = featureError(out.image, golden(g, 'out.image_embeds').data as Float32Array);
        const txt = featureError(out.text, golden(g, 'out.text_embeds').data as Float32Array);
        // F32: the same file contents, so the same numbers; F16: weights rounded to 11 bits.
        const bound = dtype === 'F32' ? toleranceFor(`${name}_forward`, 'out.image_embeds') : 2e-2;
        expect(img.maxRel, `${dtype} image`).toBeLessThanOrEqual(bound);
        expect(txt.maxRel, `${dtype} text`).toBeLessThanOrEqual(bound);
        if (dtype === 'F16') expect(img.maxAbs + txt.maxAbs, 'F16 rounding must change something').toBeGreaterThan(0);
      } finally {
        await files.release();
      }
    }
    await src.close();
  });

  it('bench mode times each tower after checking it against the f32 result', async () => {
    const name = 'echoclip_tiny';
    const model = { weights: resolve(FIXTURES, name, 'open_clip_model.safetensors'), config: resolve(FIXTURES, name, 'open_clip_config.json'), dir: resolve(FIXTURES, name) };
    const r = await peer.bench(model, { image_batches: [1], text_batches: [2], budget_s: 30, warmup: 0, repeats: 2 }, { timeoutMs: 120_000, device: 'cpu' });
    expect(r.device).toBe('cpu');
    expect(r.cases.map((c) => `${c.tower} ${c.batch} ${c.variant}`)).toEqual(['image 1 f32 eager', 'text 2 f32 eager']);
    for (const c of r.cases) {
      expect(c.error).toBeUndefined();
      expect(c.rel_err).toBe(0);
      expect(c.repeats).toBe(2);
      expect(c.median_ms).toBeGreaterThan(0);
      expect(c.items_per_s).toBeCloseTo((c.batch * 1000) / c.median_ms!);
    }
  });
});
