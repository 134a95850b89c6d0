import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, EchoClipError, WeightsFormatError, WeightsMismatchError } from '../../src/errors.js';
import { openWeights, resolveWeightsFiles } from '../../src/io/weights-node.js';
import { FIXTURES, fixturePath } from './helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'echoclip-w-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function caught(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected an error');
}

describe('openWeights (local)', () => {
  it('a hub-layout directory: config + safetensors, validated', async () => {
    const w = await openWeights(path.join(FIXTURES, 'echoclip_r_tiny'));
    expect(w.format).toBe('safetensors');
    expect(w.files.weights).toBe(fixturePath('echoclip_r_tiny', 'open_clip_model.safetensors'));
    expect(w.config.text.width).toBe(64);
    expect(w.source.tensors.length).toBe(94);
    const t = await w.source.read('visual.head.proj.weight');
    expect(t.shape).toEqual([64, 256]);
    await w.source.close();
  });

  it('a single .bin file takes the config beside it; the format is sniffed from the bytes', async () => {
    const w = await openWeights(fixturePath('echoclip_tiny', 'open_clip_pytorch_model.bin'));
    expect(w.format).toBe('pytorch');
    await w.source.close();
    // a .bin renamed to .safetensors still opens as PyTorch
    const dir = path.join(tmp, 'renamed');
    mkdirSync(dir);
    copyFileSync(fixturePath('echoclip_tiny', 'open_clip_pytorch_model.bin'), path.join(dir, 'open_clip_model.safetensors'));
    copyFileSync(fixturePath('echoclip_tiny', 'open_clip_config.json'), path.join(dir, 'open_clip_config.json'));
    const r = await openWeights(dir);
    expect(r.format).toBe('pytorch');
    await r.source.close();
  });

  it('reports missing configs, empty directories and missing paths with typed errors', async () => {
    const lone = path.join(tmp, 'lone');
    mkdirSync(lone);
    copyFileSync(fixturePath('echoclip_tiny', 'open_clip_model.safetensors'), path.join(lone, 'open_clip_model.safetensors'));
    expect(await caught(openWeights(lone))).toBeInstanceOf(ConfigError);
    expect(await resolveWeightsFiles(lone)).toEqual({ config: undefined, weights: path.join(lone, 'open_clip_model.safetensors') });
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    expect((await caught(openWeights(empty))).message).toMatch(/holds none of/);
    expect(await caught(openWeights(path.join(tmp, 'nope')))).toBeInstanceOf(WeightsFormatError);
  });

  it('a config that does not fit the weights → one WeightsMismatchError listing every problem', async () => {
    const dir = path.join(tmp, 'mismatch');
    mkdirSync(dir);
    copyFileSync(fixturePath('echoclip_tiny', 'open_clip_model.safetensors'), path.join(dir, 'open_clip_model.safetensors'));
    const cfg = JSON.parse(readFileSync(fixturePath('echoclip_tiny', 'open_clip_config.json'), 'utf8'));
    cfg.model_cfg.text_cfg.layers = 3;
    cfg.model_cfg.embed_dim = 32;
    writeFileSync(path.join(dir, 'open_clip_config.json'), JSON.stringify(cfg));
    const err = await caught(openWeights(dir));
    expect(err).toBeInstanceOf(WeightsMismatchError);
    expect(err.message).toContain('missing transformer.resblocks.2.ln_1.weight (expected [64])');
    expect(err.message).toContain('wrong shape text_projection: expected [64,32], found [64,64]');
    expect(err.message).toContain('wrong shape visual.head.proj.weight: expected [32,256], found [64,256]');
    expect(err.message).toMatch(/12 missing, 0 unexpected, 2 wrong shape/);
    // validate: false opens it anyway (for tools that inspect files)
    const w = await openWeights(dir, { validate: false });
    await w.source.close();
    expect(err).toBeInstanceOf(EchoClipError);
  });
});
