import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { TokenizerError } from '../../src/errors.js';
import { cleanReportText, extractVariables, TemplateTokenizer, VARIABLE_VOCAB } from '../../src/tokenizer/index.js';
import { type EncodeCall, loadTemplate, readJson, rowMismatches, type TemplateCase, TEMPLATE_VOCAB } from './helpers.js';

interface TemplateFixture {
  constants: Record<string, number>;
  template_vocab: Record<string, number>;
  variable_vocab: Record<string, number>;
  count: number;
  cases: TemplateCase[];
}
const fixture = readJson<TemplateFixture>('fixtures', 'tokenizer_template.json');
const ok = fixture.cases.filter((c) => !c.error);
const label = (c: TemplateCase) => `${c.category}: ${JSON.stringify(c.text).slice(0, 80)}`;

describe('template tokenizer against echo_CLIP goldens', () => {
  test('constants and vocabularies', () => {
    const t = loadTemplate();
    expect(fixture.cases).toHaveLength(254);
    expect({ template_vocab_len: t.templateVocabSize, variable_vocab_len: t.variable.size, max_token_id: t.maxTokenId, BOS_token_id: t.bosId, EOS_token_id: t.eosId })
      .toEqual({ template_vocab_len: 775, variable_vocab_len: 132, max_token_id: 906, BOS_token_id: 907, EOS_token_id: 908 });
    expect(Object.fromEntries(t.template.vocab.map((p, i) => [p, i]))).toEqual(fixture.template_vocab);
    expect(Object.fromEntries(t.variable.vocab.map((p, i) => [p, i]))).toEqual(fixture.variable_vocab);
    expect(VARIABLE_VOCAB).toHaveLength(128); // [UNK] is already in the vocabulary: 127 new tokens
  });

  test('ids of all 253 accepted cases are exact', () => {
    const t = loadTemplate();
    expect(rowMismatches(ok, (c) => Array.from(t.tokenizeOne(c.text)), (c) => c.ids, label)).toEqual([]);
  });

  test('clean_text, extract_variables and the detokenized view are exact', () => {
    const t = loadTemplate();
    expect(rowMismatches(ok, (c) => cleanReportText(c.text), (c) => c.cleaned, label)).toEqual([]);
    expect(rowMismatches(ok, (c) => extractVariables(cleanReportText(c.text)).variables, (c) => c.variables, label)).toEqual([]);
    expect(rowMismatches(ok, (c) => t.detokenize(Array.from(t.tokenizeOne(c.text)).filter((id) => id !== 0)), (c) => c.detokenized, label)).toEqual([]);
  });

  test('the case the reference rejects (a <#> with no number) is a TokenizerError with the reason', () => {
    const t = loadTemplate();
    const bad = fixture.cases.filter((c) => c.error);
    expect(bad.map((c) => c.error)).toEqual(['IndexError: pop from empty list']);
    for (const c of bad) {
      expect(() => t.tokenizeOne(c.text)).toThrow(TokenizerError);
      expect(() => t.tokenizeOne(c.text)).toThrow(/pop from empty list/);
    }
  });

  test('the fixtures cover truncation, dropped gaps and multi-variable phrases', () => {
    expect(ok.some((c) => c.ids![76] === 908 && c.ids![75] !== 0)).toBe(true);
    expect(ok.some((c) => c.detokenized!.includes('<‡>'))).toBe(true);
    expect(ok.some((c) => c.detokenized!.includes('<[UNK]>'))).toBe(true);
  });

  test('reference §5.7 vectors', () => {
    const t = loadTemplate();
    const row = (s: string) => Array.from(t.tokenizeOne(s)).filter((x) => x !== 0);
    expect(row('LV ejection fraction is 55%')).toEqual([907, 627, 835, 908]);
    expect(t.detokenize([907, 627, 835, 908])).toEqual(['[BOS]', '[LV EJECTION FRACTION IS <#>%. ]', '<55>', '[EOS]']);
    expect(row('Mild dilated left atrium.')).toEqual([907, 697, 882, 908]);
    expect(row('The left ventricular ejection fraction is estimated to be 35%')).toEqual([907, 255, 815, 908]);
    expect(row('Severely dilated left atrium. LV ejection fraction was 20.5%.')).toEqual([907, 697, 884, 627, 800, 892, 908]);
    expect(row('Total wall motion score is 2.29.')).toEqual([907, 604, 782, 889, 789, 908]);
    const report = readFileSync(new URL('../../../shared/samples/example_report.txt', import.meta.url), 'utf8');
    const tr = t.trace(report);
    expect(tr.variables).toHaveLength(20);
    expect(Array.from(tr.ids).filter((x) => x !== 0)).toHaveLength(71);
  });

  test('trace() exposes the intermediate steps', () => {
    const tr = loadTemplate().trace('LV ejection fraction is 55%');
    expect(tr).toMatchObject({ cleaned: 'LV EJECTION FRACTION IS 55%. ', variables: ['55'], templated: 'LV EJECTION FRACTION IS <#>%. ' });
  });

  test('variable strings: multi-token numbers and severities', () => {
    const v = loadTemplate().variable;
    const ids = (s: string) => v.encode(s).ids.map((i) => i + 775);
    expect(ids('20.0')).toEqual([800, 887]);
    expect(ids('1000')).toEqual([880, 780]);
    expect(ids('VERY SEVERE')).toEqual([775, 884]);
    expect(ids('3.')).toEqual([783, 775]);
    expect(ids('')).toEqual([]);
  });
});

describe('the HF-tokenizers layer in isolation (1973 recorded encode calls)', () => {
  const calls = readJson<{ count: number; calls: EncodeCall[] }>('fixtures', 'tokenizer_template_encode_calls.json').calls;
  test('ids, tokens and code-point offsets are exact', () => {
    const t = loadTemplate();
    expect(calls).toHaveLength(1973);
    const enc = (c: EncodeCall) => (c.tokenizer === 'template_tokenizer' ? t.template : t.variable).encode(c.text);
    expect(rowMismatches(calls, (c) => { const e = enc(c); return [e.ids, e.tokens, e.offsets]; }, (c) => [c.ids, c.tokens, c.offsets], (c) => `${c.tokenizer}: ${JSON.stringify(c.text).slice(0, 80)}`)).toEqual([]);
  });

  test('offsets count code points, not UTF-16 units', () => {
    const e = loadTemplate().variable.encode('😀5');
    expect(e.offsets).toEqual([[0, 1], [1, 2]]);
    expect(e.spans).toEqual([[0, 2], [2, 3]]);
  });

  test('special tokens split first, leftmost-longest', () => {
    const e = loadTemplate().variable.encode('1[CLS]100');
    expect(e.tokens).toEqual(['1', '[CLS]', '100']);
  });
});

describe('vocabulary and detokenizer errors', () => {
  test('empty vocabulary file', () => {
    expect(() => TemplateTokenizer.fromVocab('')).toThrow(/no phrases/);
    expect(() => TemplateTokenizer.fromVocab('\n\n')).toThrow(TokenizerError);
  });

  test('CRLF vocabulary files read as Python text mode reads them', () => {
    const text = readFileSync(TEMPLATE_VOCAB, 'utf8');
    const crlf = TemplateTokenizer.fromVocab(text.replace(/\n/g, '\r\n'));
    expect(crlf.template.vocab).toEqual(loadTemplate().template.vocab);
  });

  test('unknown ids', () => {
    const t = loadTemplate();
    expect(() => t.detokenize([909])).toThrow(/not a template token/);
    expect(() => t.detokenize([1.5])).toThrow(TokenizerError);
    expect(t.detokenize([0, 775, 906])).toEqual(['[[UNK]]', '<[UNK]>', '<09>']);
  });

  test('non-string report', () => {
    expect(() => loadTemplate().tokenizeOne(undefined as unknown as string)).toThrow(TokenizerError);
  });
});
