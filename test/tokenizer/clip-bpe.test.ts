import { readFileSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { TokenizerError } from '../../src/errors.js';
import { ClipBpeTokenizer, CLIP_EOT, CLIP_SOT, clipCleanText } from '../../src/tokenizer/index.js';
import { BPE_GZ, type BpeCase, loadBpe, readJson, rowMismatches } from './helpers.js';

const fixture = readJson<{ count: number; sot_id: number; eot_id: number; context_length: number; cases: BpeCase[] }>('fixtures', 'tokenizer_clip_bpe.json');

describe('CLIP BPE against open_clip 2.20 goldens', () => {
  test('fixture constants', () => {
    expect(fixture.cases).toHaveLength(1299);
    expect(fixture.count).toBe(1299);
    expect([fixture.sot_id, fixture.eot_id, fixture.context_length]).toEqual([CLIP_SOT, CLIP_EOT, 77]);
  });

  test('all 1299 cases give exactly the reference ids', async () => {
    const bpe = await loadBpe();
    expect(rowMismatches(fixture.cases, (c) => Array.from(bpe.tokenizeOne(c.text)), (c) => c.ids, (c) => `${c.category}: ${JSON.stringify(c.text).slice(0, 80)}`)).toEqual([]);
  });

  test('untruncated lengths match n_tokens_untruncated', async () => {
    const bpe = await loadBpe();
    expect(rowMismatches(fixture.cases, (c) => bpe.encode(c.text).length + 2, (c) => c.n_tokens_untruncated, (c) => JSON.stringify(c.text).slice(0, 80))).toEqual([]);
  });

  test('the fixtures exercise truncation, the boundary, ftfy and HTML entities', () => {
    const lens = new Set(fixture.cases.map((c) => c.n_tokens_untruncated));
    for (const n of [76, 77, 78]) expect(lens.has(n)).toBe(true);
    expect(fixture.cases.some((c) => c.n_tokens_untruncated > 400)).toBe(true);
    const texts = fixture.cases.map((c) => c.text);
    for (const t of ['Ã©', 'â€™', '&amp;amp;amp;', 'ﬁ ligature', 'ＡＢＣ fullwidth', '<start_of_text>']) expect(texts).toContain(t);
  });

  test('reference §3 vectors (pieces included)', async () => {
    const bpe = await loadBpe();
    const row = (t: string) => Array.from(bpe.tokenizeOne(t)).filter((x) => x !== 0);
    expect(row('LV EJECTION FRACTION IS 55%. ')).toEqual([49406, 11184, 29771, 740, 26788, 533, 276, 276, 12475, 49407]);
    expect(bpe.encode('LV EJECTION FRACTION IS 55%. ').map((id) => bpe.idToToken(id))).toEqual(['lv</w>', 'ejec', 'tion</w>', 'fraction</w>', 'is</w>', '5</w>', '5</w>', '%.</w>']);
    const report = readFileSync(new URL('../../../shared/samples/example_report.txt', import.meta.url), 'utf8');
    expect(bpe.encode(report).length + 2).toBe(502);
    expect(Array.from(bpe.tokenizeOne(report).slice(74))).toEqual([6775, 322, 49407]);
  });

  test('tokenize() takes one string or a list and returns 77-id Int32Array rows', async () => {
    const bpe = await loadBpe();
    const rows = bpe.tokenize(['a', 'b c']);
    expect(rows).toHaveLength(2);
    for (const r of rows) { expect(r).toBeInstanceOf(Int32Array); expect(r).toHaveLength(77); }
    expect(Array.from(bpe.tokenize('a')[0])).toEqual(Array.from(rows[0]));
    expect(Array.from(bpe.tokenizeOne('')).slice(0, 3)).toEqual([CLIP_SOT, CLIP_EOT, 0]);
  });

  test('clipCleanText applies ftfy, html.unescape twice, whitespace collapse and lower()', () => {
    expect(clipCleanText('  The Mona Lisa doesnâ€™t have eyebrows.  ')).toBe("the mona lisa doesn't have eyebrows.");
    expect(clipCleanText('&amp;amp;amp;')).toBe('&');
    expect(clipCleanText('a\u3000\u2003b\t\n c')).toBe('a b c');
    expect(clipCleanText('Ｈｉ ﬁne')).toBe('hi fine');
  });

  test('a pathological single word (200k letters) is handled quickly', async () => {
    const bpe = await loadBpe();
    const t0 = Date.now();
    const row = bpe.tokenizeOne('ab'.repeat(100_000));
    expect(row[0]).toBe(CLIP_SOT);
    expect(row[76]).toBe(CLIP_EOT);
    expect(Date.now() - t0).toBeLessThan(20_000); // a hang guard, not a benchmark
  });
});

describe('CLIP vocabulary loading', () => {
  const gz = new Uint8Array(readFileSync(BPE_GZ));
  const mergesText = gunzipSync(gz).toString('utf8');

  /** The Hugging Face form of the same vocabulary: vocab.json + merges.txt. */
  async function hubFiles(): Promise<{ vocabJson: string; merges: string }> {
    const bpe = await loadBpe();
    const vocab: Record<string, number> = {};
    for (let id = 0; id < 49408; id++) vocab[bpe.idToToken(id)!] = id;
    delete vocab['<start_of_text>']; delete vocab['<end_of_text>'];
    vocab['<|startoftext|>'] = CLIP_SOT; vocab['<|endoftext|>'] = CLIP_EOT;
    const lines = mergesText.split('\n').slice(1, 48895);
    return { vocabJson: JSON.stringify(vocab), merges: '#version: 0.2\n' + lines.join('\n') + '\n' };
  }

  test('vocab.json + merges.txt gives the same ids as the gzip file', async () => {
    const { vocabJson, merges } = await hubFiles();
    const hub = ClipBpeTokenizer.fromVocabJsonAndMerges(vocabJson, merges);
    const bpe = await loadBpe();
    for (const c of fixture.cases.filter((_, i) => i % 7 === 0)) expect(Array.from(hub.tokenizeOne(c.text))).toEqual(c.ids);
    expect(hub.vocabSize).toBe(bpe.vocabSize);
  });

  test('the unzipped text form loads too', () => {
    const t = ClipBpeTokenizer.fromMergesText(mergesText);
    expect(Array.from(t.tokenizeOne('hello world')).slice(0, 4)).toEqual([49406, 3306, 1002, 49407]);
  });

  test('bad vocabulary files are TokenizerErrors that say what is wrong', async () => {
    await expect(ClipBpeTokenizer.fromGzip(new TextEncoder().encode('not gzip at all, definitely not'))).rejects.toThrow(/not a gzip file/);
    await expect(ClipBpeTokenizer.fromGzip(gz.subarray(0, 5000))).rejects.toThrow(TokenizerError);
    const corrupt = gz.slice(); corrupt.fill(0x55, 100, 400);
    await expect(ClipBpeTokenizer.fromGzip(corrupt)).rejects.toThrow(/corrupt gzip|CLIP BPE vocabulary/);
    await expect(ClipBpeTokenizer.fromGzip(new Uint8Array(gzipSync('#version\na b\n')))).rejects.toThrow(/expected at least 48895 lines/);
    const lines = mergesText.split('\n'); lines[10] = 'abc';
    expect(() => ClipBpeTokenizer.fromMergesText(lines.join('\n'))).toThrow(/line 10 should hold two/);
    const { vocabJson, merges } = await hubFiles();
    expect(() => ClipBpeTokenizer.fromVocabJsonAndMerges('{nope', merges)).toThrow(/not valid JSON/);
    expect(() => ClipBpeTokenizer.fromVocabJsonAndMerges('[1,2]', merges)).toThrow(/JSON object/);
    expect(() => ClipBpeTokenizer.fromVocabJsonAndMerges(vocabJson.replace('"!":0', '"!":1'), merges)).toThrow(/distinct integer ids/);
    expect(() => ClipBpeTokenizer.fromVocabJsonAndMerges(vocabJson.replace('<|endoftext|>', '<|end|>'), merges)).toThrow(/expected <\|startoftext\|>/);
    expect(() => ClipBpeTokenizer.fromVocabJsonAndMerges(vocabJson, merges.split('\n').slice(0, 1000).join('\n'))).toThrow(/expected CLIP's 48894 merges and 49408 tokens, found 999 merges/);
    const swapped = merges.split('\n'); [swapped[5], swapped[6]] = [swapped[6], swapped[5]];
    expect(() => ClipBpeTokenizer.fromVocabJsonAndMerges(vocabJson, swapped.join('\n'))).toThrow(/id 516 is .*\(merge 5 of merges.txt\)/);
  });

  test('non-string input is a TokenizerError', async () => {
    const bpe = await loadBpe();
    expect(() => bpe.tokenizeOne(42 as unknown as string)).toThrow(TokenizerError);
    expect(() => bpe.tokenizeOne('a', 0)).toThrow(/positive integer/);
  });

  test('other context lengths truncate the same way (EOT forced last)', async () => {
    const bpe = await loadBpe();
    expect(Array.from(bpe.tokenizeOne('hello world', 3))).toEqual([CLIP_SOT, 3306, CLIP_EOT]);
    expect(Array.from(bpe.tokenizeOne('hello world', 1))).toEqual([CLIP_EOT]);
    expect(Array.from(bpe.tokenizeOne('hello world', 6))).toEqual([CLIP_SOT, 3306, 1002, CLIP_EOT, 0, 0]);
  });
});

describe('gzip vocabulary that is not UTF-8', () => {
  test('is a TokenizerError', async () => {
    await expect(ClipBpeTokenizer.fromGzip(new Uint8Array(gzipSync(Buffer.from([0x23, 0xff, 0xfe, 0x0a]))))).rejects.toThrow(/not valid UTF-8/);
  });
});
