import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { convertCommand } from '../../src/cli/convert.js';
import { UsageError, WeightsFormatError } from '../../src/errors.js';
import { f32ToF16Array } from '../../src/io/half.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { FIXTURES, fixtureBytes, fixturePath, MODELS } from './helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'echoclip-conv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// The command writes a summary to stdout and progress to stderr; keep test output clean.
let stdout: string[] = [];
beforeAll(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { stdout.push(String(s)); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

async function caught(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected an error');
}

describe('echoclip convert', () => {
  it.each(MODELS)('%s: .bin → safetensors equals the fixture safetensors, tensor for tensor', async (model) => {
    const out = path.join(tmp, `${model}.safetensors`);
    stdout = [];
    expect(await convertCommand(['--weights', fixturePath(model, 'open_clip_pytorch_model.bin'), '--out', out])).toBe(0);
    expect(JSON.parse(stdout.join(''))).toMatchObject({ out, tensors: 94, dtype: 'f32', format: 'pytorch' });
    const got = await parseSafetensors(new Uint8Array(readFileSync(out)));
    const want = await parseSafetensors(fixtureBytes(model, 'open_clip_model.safetensors'));
    expect(got.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(want.tensors.map((t) => [t.name, t.dtype, t.shape]));
    for (const t of want.tensors) {
      const a = await got.read(t.name), b = await want.read(t.name);
      expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)), t.name).toBe(true);
    }
    expect(got.metadata).toMatchObject({ format: 'pt', dtype: 'F32', source: 'open_clip_pytorch_model.bin' });
  });

  it('--dtype f16 from a directory: every tensor is the RNE f16 of the f32 fixture', async () => {
    const out = path.join(tmp, 'tiny-f16.safetensors');
    stdout = [];
    expect(await convertCommand(['--weights', path.join(FIXTURES, 'echoclip_tiny'), '--out', out, '--dtype=f16'])).toBe(0);
    expect(JSON.parse(stdout.join(''))).toMatchObject({ format: 'pytorch', from: fixturePath('echoclip_tiny', 'open_clip_pytorch_model.bin') });
    const bytes = readFileSync(out);
    expect(bytes.length).toBeLessThan(fixtureBytes('echoclip_tiny', 'open_clip_model.safetensors').length / 2 + 20000);
    const got = await parseSafetensors(new Uint8Array(bytes));
    const want = await parseSafetensors(fixtureBytes('echoclip_tiny', 'open_clip_model.safetensors'));
    for (const t of want.tensors) {
      const a = await got.read(t.name);
      expect(a.dtype).toBe('F16');
      const expected = f32ToF16Array((await want.read(t.name)).data as Float32Array);
      expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(expected.buffer)), t.name).toBe(true);
    }
  });

  it('rejects bad usage and bad input without leaving files behind', async () => {
    const out = path.join(tmp, 'bad.safetensors');
    expect(await caught(convertCommand(['--out', out]))).toBeInstanceOf(UsageError);
    expect(await caught(convertCommand(['--weights', fixturePath('echoclip_tiny', 'open_clip_pytorch_model.bin'), '--out', out, '--dtype', 'bf16']))).toBeInstanceOf(UsageError);
    expect(await caught(convertCommand(['--weights', 'x', '--out', out, '--frobnicate']))).toBeInstanceOf(UsageError);
    expect(await caught(convertCommand(['--weights', fixturePath('echoclip_tiny', 'open_clip_config.json'), '--out', out]))).toBeInstanceOf(WeightsFormatError);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
