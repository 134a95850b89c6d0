// Property tests: for any string both tokenizers return 77 valid ids or a TokenizerError,
// deterministically, and never hang.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { TokenizerError } from '../../src/errors.js';
import { CLIP_EOT, CLIP_SOT, CLIP_VOCAB_SIZE } from '../../src/tokenizer/index.js';
import { loadBpe, loadTemplate } from './helpers.js';

// Fragments that reach the interesting code paths (entities, mojibake, specials, placeholders).
const FRAGMENTS = [
  '&amp;', '&amp', '&#x1F600;', '&#129;', '&NTILDE;', '&lt;', '<', '>', '<#>', '[UNK]', '[CLS]', '‡', '^', 'CRLF', '`',
  'Ã©', 'â€™', 'â€', 'Ã', '\x85', '\x9d', '\x1b[31m', '\ufeff', 'ﬁ', 'Ｆ', '\u3000', '\r\n', '\u2028', '\t', ' ', '  ',
  '<start_of_text>', '<end_of_text>', "'s", "'LL", 'e\u0301', '\ud800', '\udc00', '😀', '👨‍👩‍👧', '١٢٣', '²', '½',
  '55', '2.29', '.', '..', '%', 'MMHG', ' MM', 'CM', '12/12/2020', '01.02.2003', 'I10.5', 'WAS', 'AND/OR', 'NORMALLY',
  'MILD', 'MODERATE/SEVERE', 'VERY SEVERE', 'PULMONARY ARTERY', ' + ', '+CVPMMHG',
  'LV EJECTION FRACTION IS ', 'THERE IS AKINESIS OF THE ', 'MILD DILATED LEFT ATRIUM. ', 'RESTING SEGMENTAL WALL MOTION ANALYSIS.:',
  'THE INFERIOR VENA CAVA IS NORMAL IN SIZE AND SHOWS A NORMAL RESPIRATORY COLLAPSE, CONSISTENT WITH NORMAL RIGHT ATRIAL PRESSURE (<#>MMHG).',
];

const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u));
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.array(utf16Unit, { maxLength: 100 }).map((a) => a.join('')), // lone surrogates included
  fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ unit: 'binary', maxLength: 3 }), fc.nat(1000).map(String)), { maxLength: 40 }).map((a) => a.join('')),
  fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 200 }).map((a) => a.join(' ')), // often truncated
);

type Outcome = { ids: number[] } | { error: string };
function outcome(f: () => Int32Array): Outcome {
  try {
    return { ids: Array.from(f()) };
  } catch (e) {
    if (e instanceof TokenizerError) return { error: e.message };
    throw e; // anything else is a bug and fails the property
  }
}

function checkBpeRow(ids: number[]): void {
  expect(ids).toHaveLength(77);
  expect(ids[0]).toBe(CLIP_SOT);
  // Literal '<start_of_text>'/'<end_of_text>' in a text become 49406/49407 inside the row (as in
  // open_clip), so the closing EOT is the last non-zero id and only padding follows it.
  let last = 76;
  while (ids[last] === 0) last--;
  expect(ids[last]).toBe(CLIP_EOT);
  expect(last).toBeGreaterThan(0);
  for (const id of ids) expect(Number.isInteger(id) && id >= 0 && id < CLIP_VOCAB_SIZE).toBe(true);
}

function checkTemplateRow(ids: number[]): void {
  expect(ids).toHaveLength(77);
  expect(ids[0]).toBe(907);
  const eos = ids.indexOf(908);
  expect(eos).toBeGreaterThan(0);
  for (const [i, id] of ids.entries()) {
    expect(Number.isInteger(id) && id >= 0 && id <= 908).toBe(true);
    if (i > eos) expect(id).toBe(0);
    if (i > 0 && i < eos) expect(id === 0 || id >= 907).toBe(false);
  }
}

describe('property: any Unicode string', () => {
  test('CLIP BPE: 77 ids < 49408 (SOT ... EOT, zero padding) or a TokenizerError; deterministic', async () => {
    const bpe = await loadBpe();
    fc.assert(fc.property(anyText, (text) => {
      const a = outcome(() => bpe.tokenizeOne(text));
      if ('ids' in a) checkBpeRow(a.ids);
      expect(outcome(() => bpe.tokenizeOne(text))).toEqual(a);
    }), { numRuns: 1000, seed: 4 });
  });

  test('template: 77 ids <= 908 (BOS ... EOS, zero padding) or a TokenizerError; deterministic', () => {
    const t = loadTemplate();
    let errors = 0;
    fc.assert(fc.property(anyText, (text) => {
      const a = outcome(() => t.tokenizeOne(text));
      if ('ids' in a) checkTemplateRow(a.ids);
      else errors++;
      expect(outcome(() => t.tokenizeOne(text))).toEqual(a);
    }), { numRuns: 1000, seed: 4 });
    expect(errors).toBeGreaterThan(0); // the generator does reach the rejecting path
  });

  test('template detokenizer maps every produced id', () => {
    const t = loadTemplate();
    fc.assert(fc.property(anyText, (text) => {
      const a = outcome(() => t.tokenizeOne(text));
      if ('ids' in a) expect(t.detokenize(a.ids)).toHaveLength(77);
    }), { numRuns: 300, seed: 5 });
  });
});

describe('huge and hostile inputs finish quickly', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const randomUnicode = (n: number) => Array.from({ length: n }, () => String.fromCodePoint(Math.floor(rand() * 0x10ffff) & ~0x800 | 0)).join('');
  const inputs: [string, string][] = [
    ['1M letters (one word)', 'a'.repeat(1_000_000)],
    ['1M digits', '9'.repeat(1_000_000)],
    ['200k random code points', randomUnicode(200_000)],
    ['100k entities', '&amp;'.repeat(100_000)],
    ['nested entity', '&' + 'amp;'.repeat(50_000)],
    ['100k mojibake pairs', 'Ã©'.repeat(100_000)],
    ['100k lines', 'x\n'.repeat(100_000)],
    ['phrase prefixes', 'THERE IS AKINESIS OF THE '.repeat(20_000)],
    ['placeholders', '<#> '.repeat(50_000)],
    ['combining marks', 'e' + '\u0301'.repeat(100_000)],
    ['lone surrogates', '\ud800\udc00\udc00\ud800'.repeat(50_000)],
  ];
  test.each(inputs)('%s', async (_name, text) => {
    const bpe = await loadBpe();
    const t = loadTemplate();
    const t0 = Date.now();
    const a = outcome(() => bpe.tokenizeOne(text));
    if ('ids' in a) checkBpeRow(a.ids);
    const b = outcome(() => t.tokenizeOne(text));
    if ('ids' in b) checkTemplateRow(b.ids);
    expect(Date.now() - t0).toBeLessThan(30_000); // a hang guard on a shared 2-core box, not a benchmark
  });
});
