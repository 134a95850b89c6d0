// Python-behaviour helpers: html.unescape (values from CPython 3.11) and ftfy (its own doctests).
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { TokenizerError } from '../../src/errors.js';
import { fixEncoding, ftfyUnescapeHtml, isBad } from '../../src/tokenizer/ftfy.js';
import { clipPreTokens } from '../../src/tokenizer/clip-bpe.js';
import { cleanReportText, extractVariables, fixText, pythonHtmlUnescape } from '../../src/tokenizer/index.js';
import { codePointLength, pyStrip } from '../../src/tokenizer/pytext.js';

describe('html.unescape (CPython 3.11 outputs)', () => {
  const cases: [string, string][] = JSON.parse(String.raw`[["&amp;", "&"], ["&amp", "&"], ["&ampx", "&x"], ["&amp;amp;", "&amp;"], ["&notit;", "\u00acit;"], ["&notin;", "\u2209"], ["&notit", "\u00acit"], ["&#39;", "'"], ["&#x27;", "'"], ["&#X27", "'"], ["&#0;", "\ufffd"], ["&#128;", "\u20ac"], ["&#129;", "\u0081"], ["&#x110000;", "\ufffd"], ["&#xD800;", "\ufffd"], ["&#1;", ""], ["&#65534;", ""], ["&#x1F600;", "\ud83d\ude00"], ["&unknown;", "&unknown;"], ["AT&T", "AT&T"], ["&&&", "&&&"], ["&#;", "&#;"], ["&#x;", "&#x;"], ["&lt;b&gt;", "<b>"], ["&AMP;", "&"], ["&Amp;", "&Amp;"], ["&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;"], ["&\ud83d\ude00\ud83d\ude00\ud83d\ude00;", "&\ud83d\ude00\ud83d\ude00\ud83d\ude00;"], ["&#0000000000000065;", "A"], ["&#99999999999999999999;", "\ufffd"], ["&NotNestedGreaterGreater;", "\u2aa2\u0338"], ["&ntilde; &NTILDE;", "\u00f1 &NTILDE;"], ["x&copy2023", "x\u00a92023"]]`);
  test.each(cases)('%j', (input, want) => expect(pythonHtmlUnescape(input)).toBe(want));

  test('a decimal reference longer than Python int() allows raises, as CPython does', () => {
    expect(() => pythonHtmlUnescape('&#' + '1'.repeat(5000) + ';')).toThrow(TokenizerError);
    expect(pythonHtmlUnescape('&#x' + '1'.repeat(5000) + ';')).toBe('\ufffd');
  });
});

describe('ftfy 6 behaviour (from ftfy doctests)', () => {
  test('fix_encoding', () => {
    expect(fixEncoding('Ãºnico')).toBe('único');
    expect(fixEncoding('This text is fine already :þ')).toBe('This text is fine already :þ');
    expect(fixEncoding('This â€” should be an em dash')).toBe('This — should be an em dash');
    expect(fixEncoding('This text is sad .â\x81”.')).toBe('This text is sad .⁔.');
    expect(fixEncoding('not such a fan of Charlotte Brontë…”')).toBe('not such a fan of Charlotte Brontë…”');
    expect(fixEncoding('The more you know ðŸŒ ')).toBe('The more you know 🌠');
    expect(fixEncoding('AHÅ™, the new sofa from IKEA®')).toBe('AHÅ™, the new sofa from IKEA®');
    expect(fixEncoding('This text was never UTF-8 at all\x85')).toBe('This text was never UTF-8 at all…');
  });

  test('unescape_html', () => {
    expect(ftfyUnescapeHtml('&lt;tag&gt;')).toBe('<tag>');
    expect(ftfyUnescapeHtml('&Jscr;ohn &HilbertSpace;ancock')).toBe('𝒥ohn ℋancock');
    expect(ftfyUnescapeHtml('P&EACUTE;REZ')).toBe('PÉREZ');
    expect(ftfyUnescapeHtml('BUNDESSTRA&SZLIG;E')).toBe('BUNDESSTRASSE');
    expect(ftfyUnescapeHtml('&ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('ñ Ñ Ñ &nTILDE;');
    expect(ftfyUnescapeHtml('&amp')).toBe('&amp'); // no ';': left for html.unescape
  });

  test('fix_text', () => {
    expect(fixText('ＬＯＵＤ　ＮＯＩＳＥＳ')).toBe('LOUD NOISES');
    expect(fixText('ﬂuﬃeﬆ')).toBe('fluffiest');
    expect(fixText('\ufeffParty like\nit&rsquo;s 1999!')).toBe("Party like\nit's 1999!");
    expect(fixText('\x1b[36;44mI\'m blue\x1b[0m')).toBe("I'm blue");
    expect(fixText('uÌˆnicode')).toBe('ünicode');
    expect(fixText('<em>HTML entities &lt;3</em>')).toBe('<em>HTML entities &lt;3</em>');
    expect(fixText('HTML entities &lt;3')).toBe('HTML entities <3');
    expect(fixText('a\r\nb\u2028c')).toBe('a\nb\nc');
    expect(fixText('lone \ud800 surrogate')).toBe('lone \ufffd surrogate');
    expect(fixText('e\u0301')).toBe('é');
    expect(isBad('plain text')).toBe(false);
    expect(isBad('Ã©')).toBe(true);
  });
});

describe('Python string helpers', () => {
  test('strip uses str.isspace, len counts code points', () => {
    expect(pyStrip('\x1c\x85 a \u3000\u2029')).toBe('a');
    expect(pyStrip('\ufeffa')).toBe('\ufeffa'); // JS trim() would remove the BOM; Python keeps it
    expect(codePointLength('😀')).toBe(1);
    expect(codePointLength('\ud800x')).toBe(2);
  });
});

describe('ftfy fix loops', () => {
  test('nested entities are unescaped one level per round until stable, as ftfy does', () => {
    expect(fixText('&' + 'amp;'.repeat(2000))).toBe('&');
  });

  test('pathologically deep nesting stops with a TokenizerError instead of stalling', () => {
    expect(() => fixText('&' + 'amp;'.repeat(50_000))).toThrow(/stopped to bound the time/);
  });
});

// Outputs of CPython 3.11 running open_clip's pattern (`regex` module, IGNORECASE) and echo_CLIP's
// clean_text / extract_variables on strings chosen to hit Python-vs-JS regex differences.
const CPYTHON = JSON.parse(String.raw`{"pretokens": [["'\u017f 'k \u0345ab \ufb01x", ["'\u017f", "'", "k", "ab", "\ufb01x"]], ["<\u017ftart_of_text>a<end_of_text>", ["<\u017ftart_of_text>", "a", "<end_of_text>"]], ["x\u0345y z\u0345", ["x", "y", "z"]], ["it's they're we'd 'll", ["it", "'s", "they", "'re", "we", "'d", "'ll"]], ["\u0663\u0664\u0665 \u00bd x\u00b2 \u217b", ["\u0663", "\u0664", "\u0665", "\u00bd", "x", "\u00b2", "\u217b"]], ["a\u0085b\u001cc", ["a", "b", "\u001c", "c"]]], "clean": [["I10.5 and J45.909X", "AND 909X ", [["909"], "AND <#>X "]], ["WAS_WAS WAS. WASP WAS", "WAS_WAS IS. WASP IS ", [[], "WAS_WAS IS. WASP IS "]], ["stra\u00dfe mildly ill", "STRASSE MILD ILL ", [["MILD"], "STRASSE <#> ILL "]], ["The LV was 55 % .", "THE LV IS 55%. ", [["55"], "THE LV IS <#>%. "]], ["\u0663\u0664.\u0665 cm", "\u0663\u0664.\u0665CM ", [["\u0663\u0664.\u0665"], "<#>CM "]], ["a\u001c\u001db  c", "A B C ", [[], "A B C "]], ["a.b 1.2 .5 5. ", "A. B 1.2. 5 5. ", [["1.2", "5", "5."], "A. B <#>. <#> <#> "]], ["MODERATELY SEVERE and very severe", "MODERATE SEVERE AND VERY SEVERE ", [["MODERATE", "SEVERE", "VERY SEVERE"], "<#> <#> AND <#> "]], ["12/12/2020 01.02.2003 1/2/2020", "1/2/2020 ", [["1", "2", "2020"], "<#>/<#>/<#> "]], ["x + y +CVPMMHG", "X+Y MMHG ", [[], "X+Y MMHG "]], ["LV EJECTION FRACTION IS 55%", "LV EJECTION FRACTION IS 55%. ", [["55"], "LV EJECTION FRACTION IS <#>%. "]], ["TOTAL WALL MOTION SCORE IS 24.", "TOTAL WALL MOTION SCORE IS 24. ", [["24."], "TOTAL WALL MOTION SCORE IS <#> "]]]}`) as {
  pretokens: [string, string[]][];
  clean: [string, string, [string[], string]][];
};

describe('Python regex semantics (CPython 3.11 outputs)', () => {
  test.each(CPYTHON.pretokens)('open_clip pre-tokens of %j', (text, want) => expect(clipPreTokens(text)).toEqual(want));
  test.each(CPYTHON.clean)('clean_text + extract_variables of %j', (text, cleaned, [variables, templated]) => {
    expect(cleanReportText(text)).toBe(cleaned);
    expect(extractVariables(cleaned)).toEqual({ variables, text: templated });
  });
});

describe('fix_text against the real ftfy 6.3.1 (ftfy-cases.json, see gen-ftfy-cases.py)', () => {
  const data = JSON.parse(readFileSync(new URL('./ftfy-cases.json', import.meta.url), 'utf8')) as { cases: [string, string][] };
  test('246 strings covering every fix path ftfy reports', () => {
    expect(data.cases.length).toBeGreaterThan(200);
    const wrong = data.cases.filter(([input, want]) => fixText(input) !== want).map(([input, want]) => `${JSON.stringify(input)} -> ${JSON.stringify(fixText(input))}, want ${JSON.stringify(want)}`);
    expect(wrong).toEqual([]);
  });

  test("utf-8-variants: a C0 byte before a final newline decodes to NUL (ftfy's '$' quirk)", () => {
    expect(fixText('\u00d4\u00a8\u00c5ne\u00ac\u2020\u00bf\u2028')).toBe('fine\u00a0');
  });
});
