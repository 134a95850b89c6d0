// `echoclip tokenize`, called in-process (bin/echoclip.js runs the built dist).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { tokenizeCommand } from '../../src/cli/tokenize.js';
import { UsageError, TokenizerError } from '../../src/errors.js';
import { BPE_GZ, loadBpe, readJson, type BpeCase, type TemplateCase, TEMPLATE_VOCAB } from './helpers.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'echoclip-tokenize-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeInput(name: string, value: unknown): string {
  const p = path.join(dir, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
}

async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    return { code: await tokenizeCommand(argv), stdout };
  } finally {
    spy.mockRestore();
  }
}

describe('echoclip tokenize', () => {
  test('--tokenizer bpe --json prints exactly the open_clip ids, in input order', async () => {
    const cases = readJson<{ cases: BpeCase[] }>('fixtures', 'tokenizer_clip_bpe.json').cases.filter((_, i) => i % 50 === 0);
    const input = writeInput('bpe.json', cases.map((c) => c.text));
    const { code, stdout } = await run(['--tokenizer', 'bpe', '--input', input, '--vocab', BPE_GZ, '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ ids: cases.map((c) => c.ids) });
  });

  test('--tokenizer template --json: ids, with an error entry where the reference raises', async () => {
    const cases = readJson<{ cases: TemplateCase[] }>('fixtures', 'tokenizer_template.json').cases.filter((c, i) => i % 20 === 0 || c.error);
    const input = writeInput('template.json', cases.map((c) => c.text));
    const { code, stdout } = await run(['--tokenizer=template', `--input=${input}`, '--template-vocab', TEMPLATE_VOCAB, '--json']);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { ids: unknown[] };
    expect(out.ids).toHaveLength(cases.length);
    cases.forEach((c, i) => {
      if (c.error) expect(out.ids[i]).toEqual({ error: expect.stringMatching(/pop from empty list/) });
      else expect(out.ids[i]).toEqual(c.ids);
    });
  });

  test('non-string entries become error entries; plain output is one line per text', async () => {
    const input = writeInput('mixed.json', ['LV EJECTION FRACTION IS 55%', 42, null]);
    const { stdout } = await run(['--tokenizer', 'template', '--input', input, '--template-vocab', TEMPLATE_VOCAB]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0].split(' ').slice(0, 4)).toEqual(['907', '627', '835', '908']);
    expect(lines[0].split(' ')).toHaveLength(77);
    expect(lines[1]).toMatch(/^error: entry 1 is number/);
    expect(lines[2]).toMatch(/^error: entry 2 is null/);
  });

  test('--vocab may be a directory holding vocab.json + merges.txt', async () => {
    const bpe = await loadBpe();
    const vocab: Record<string, number> = {};
    for (let id = 0; id < 49406; id++) vocab[bpe.idToToken(id)!] = id;
    vocab['<|startoftext|>'] = 49406; vocab['<|endoftext|>'] = 49407;
    const hub = path.join(dir, 'hub');
    mkdirSync(hub, { recursive: true });
    writeFileSync(path.join(hub, 'vocab.json'), JSON.stringify(vocab));
    const merges = gunzipSync(readFileSync(BPE_GZ)).toString('utf8').split('\n').slice(1, 48895);
    writeFileSync(path.join(hub, 'merges.txt'), '#version: 0.2\n' + merges.join('\n') + '\n');
    const input = writeInput('hub.json', ['LV EJECTION FRACTION IS 55%. ']);
    const { stdout } = await run(['--tokenizer', 'bpe', '--input', input, '--vocab', hub, '--json']);
    expect((JSON.parse(stdout) as { ids: number[][] }).ids[0].slice(0, 10)).toEqual([49406, 11184, 29771, 740, 26788, 533, 276, 276, 12475, 49407]);
  });

  test('without --vocab the shipped vocabulary; without --template-vocab the pinned download (offline: a typed error naming the flag)', async () => {
    const input = writeInput('defaults.json', ['LV EJECTION FRACTION IS 55%. ']);
    const shipped = await run(['--tokenizer', 'bpe', '--input', input, '--json']);
    expect(shipped.stdout).toBe((await run(['--tokenizer', 'bpe', '--input', input, '--vocab', BPE_GZ, '--json'])).stdout);
    const env = { cache: process.env.ECHOCLIP_CACHE_DIR, base: process.env.ECHOCLIP_ASSETS_BASE_URL };
    process.env.ECHOCLIP_CACHE_DIR = mkdtempSync(path.join(tmpdir(), 'echoclip-tokenize-cache-'));
    process.env.ECHOCLIP_ASSETS_BASE_URL = 'http://127.0.0.1:9/echo_CLIP'; // port 9 (discard): refused at once
    try {
      await expect(run(['--tokenizer', 'template', '--input', input])).rejects.toThrow(/--template-vocab/);
    } finally {
      for (const [k, v] of [['ECHOCLIP_CACHE_DIR', env.cache], ['ECHOCLIP_ASSETS_BASE_URL', env.base]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('usage errors name the flag or file', async () => {
    const input = writeInput('ok.json', ['a']);
    await expect(run(['--input', input, '--vocab', BPE_GZ])).rejects.toThrow(/--tokenizer is required/);
    await expect(run(['--tokenizer', 'wordpiece', '--input', input])).rejects.toThrow(/must be 'bpe' or 'template'/);
    await expect(run(['--tokenizer', 'bpe', '--vocab', BPE_GZ])).rejects.toThrow(/--input is required/);
    await expect(run(['--tokenizer', 'bpe', '--input', input, '--vocab', BPE_GZ, '--bogus'])).rejects.toThrow(UsageError);
    await expect(run(['--tokenizer', 'bpe', '--input', path.join(dir, 'missing.json'), '--vocab', BPE_GZ])).rejects.toThrow(/cannot read --input/);
    await expect(run(['--tokenizer', 'bpe', '--input', writeInput('bad.json', '{"a":'), '--vocab', BPE_GZ])).rejects.toThrow(/not valid JSON/);
    await expect(run(['--tokenizer', 'bpe', '--input', writeInput('obj.json', { a: 1 }), '--vocab', BPE_GZ])).rejects.toThrow(/JSON array of strings, found object/);
    await expect(run(['--tokenizer', 'bpe', '--input', input, '--vocab', path.join(dir, 'nope.gz')])).rejects.toThrow(TokenizerError);
    await expect(run(['--tokenizer', 'template', '--input', input, '--template-vocab', writeInput('empty.txt', '')])).rejects.toThrow(/no phrases/);
  });

  test('--help prints the usage', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--tokenizer bpe\|template/);
  });
});
