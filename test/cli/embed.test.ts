import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embedCommand } from '../../src/cli/embed.js';
import { UsageError, WeightsFormatError } from '../../src/errors.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { FIXTURES, golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import '../helpers/gpu.js';

const tiny = resolve(FIXTURES, 'echoclip_tiny');
const fwd = resolve(FIXTURES, 'echoclip_tiny_forward.safetensors');

async function readOut(file: string) {
  const src = await parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of src.tensors) {
    const h = await src.read(t.name);
    out.set(t.name, { shape: h.shape, data: h.data as Float32Array });
  }
  return out;
}

describe('echoclip embed', () => {
  it('writes features, embeddings and logit_scale equal to the PyTorch goldens (--pixels, --tokens)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'echoclip-embed-'));
    const out = join(dir, 'result.safetensors');
    const code = await embedCommand(['--weights', tiny, '--pixels', `${fwd}:input.pixel_values`, '--tokens', `${fwd}:input.text_tokens`, '--out', out]);
    expect(code).toBe(0);
    const r = await readOut(out);
    const g = await loadGoldens('echoclip_tiny_forward.safetensors');
    const file = 'echoclip_tiny_forward.safetensors';
    expect(r.get('image_features')!.shape).toEqual([2, 64]);
    expect(r.get('text_features')!.shape).toEqual([8, 64]);
    expect(r.get('image_features')!.data).toBeAllclose(golden(g, 'out.image_embeds').data, { rtol: 0, atol: toleranceFor(file, 'out.image_embeds') });
    expect(r.get('text_features')!.data).toBeAllclose(golden(g, 'out.text_embeds').data, { rtol: 0, atol: toleranceFor(file, 'out.text_embeds') });
    expect(r.get('image_embeddings')!.data).toBeAllclose(golden(g, 'out.image_embeds_normalized').data, { rtol: 0, atol: toleranceFor(file, 'out.image_embeds_normalized') });
    expect(r.get('text_embeddings')!.data).toBeAllclose(golden(g, 'out.text_embeds_normalized').data, { rtol: 0, atol: toleranceFor(file, 'out.text_embeds_normalized') });
    expect(r.get('logit_scale')!.shape).toEqual([]);
    expect(Math.exp(r.get('logit_scale')!.data[0])).toBeCloseTo(golden(g, 'out.logit_scale_exp').data[0], 5);
  });

  it('rejects bad usage and bad weights with typed errors', async () => {
    await expect(embedCommand(['--weights', tiny])).rejects.toThrow(UsageError);
    await expect(embedCommand(['--weights', tiny, '--out', '/tmp/x.safetensors'])).rejects.toThrow(/nothing to embed/);
    await expect(embedCommand(['--weights', tiny, '--pixels', `${fwd}:input.pixel_values`, '--video', 'x.avi', '--out', '/tmp/x'])).rejects.toThrow(/not both/);
    await expect(embedCommand(['--weights', tiny, '--tokens', `${fwd}:nope`, '--out', '/tmp/x'])).rejects.toThrow(/has no tensor 'nope'/);
    await expect(embedCommand(['--weights', tiny, '--tokens', `${fwd}:input.pixel_values`, '--out', '/tmp/x'])).rejects.toThrow(/token ids/);
    const dir = mkdtempSync(join(tmpdir(), 'echoclip-embed-'));
    const bad = join(dir, 'open_clip_model.safetensors');
    writeFileSync(bad, new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0, 1, 2]));
    writeFileSync(join(dir, 'open_clip_config.json'), readFileSync(join(tiny, 'open_clip_config.json')));
    await expect(embedCommand(['--weights', dir, '--tokens', `${fwd}:input.text_tokens`, '--out', join(dir, 'o.safetensors')])).rejects.toThrow(WeightsFormatError);
  });
});
