// EchoCLIP-R's report tokenizer, exactly as echo_CLIP `template_tokenize`: clean the report,
// pull out numbers and severity words as variables, match the 770 template phrases, drop the
// unmatched gaps, and follow each phrase by its variables' ids (offset by 775).
import { TokenizerError } from '../errors.js';
import { AddedVocabTokenizer, UNK_ID } from './added-vocab.js';
import { cleanReportText, extractVariables } from './report-clean.js';
import { replaceAllLiteral } from './pytext.js';

export const TEMPLATE_CONTEXT_LENGTH = 77;
const VAR_SYMBOL = '<#>';
const VAR_JOINER = '\u2021'; // '‡' separates the variables of one phrase

/** The variable tokenizer's added tokens, in the order echo_CLIP adds them. */
export const VARIABLE_VOCAB: readonly string[] = [
  '[UNK]',
  ...Array.from({ length: 101 }, (_, i) => String(i)),
  VAR_JOINER, 'MILD', 'MODERATE', 'SEVERE', 'MILD/MODERATE', 'MODERATE/SEVERE',
  ...Array.from({ length: 10 }, (_, i) => '.' + i),
  ...Array.from({ length: 10 }, (_, i) => '0' + i),
];

/** echo_CLIP's `simple_replacement` pairs, applied after variable extraction. */
const REPLACEMENTS: readonly [string, string][] = [
  [
    'THE INFERIOR VENA CAVA IS NORMAL IN SIZE AND SHOWS A NORMAL RESPIRATORY COLLAPSE, CONSISTENT WITH NORMAL RIGHT ATRIAL PRESSURE (<#>MMHG).',
    'THE INFERIOR VENA CAVA SHOWS A NORMAL RESPIRATORY COLLAPSE CONSISTENT WITH NORMAL RIGHT ATRIAL PRESSURE (<#>MMHG).',
  ],
  ['RESTING SEGMENTAL WALL MOTION ANALYSIS.:', 'RESTING SEGMENTAL WALL MOTION ANALYSIS.'],
];

const countVars = (s: string): number => s.split(VAR_SYMBOL).length - 1;

/** The intermediate results of one `template_tokenize` call (for inspection and tests). */
export interface TemplateTrace {
  cleaned: string;
  variables: string[];
  /** The text given to the phrase matcher (variables as `<#>`, replacements applied). */
  templated: string;
  ids: Int32Array;
}

/** echo_CLIP `template_tokenize` / `template_detokenize`, platform-neutral. */
export class TemplateTokenizer {
  readonly template: AddedVocabTokenizer;
  readonly variable: AddedVocabTokenizer;
  /** 775: the template vocabulary size, added to variable ids. */
  readonly templateVocabSize: number;
  readonly maxTokenId: number;
  readonly bosId: number;
  readonly eosId: number;
  private readonly varCounts: Int32Array;
  private readonly detok: string[];

  private constructor(phrases: readonly string[]) {
    this.template = new AddedVocabTokenizer(phrases);
    this.variable = new AddedVocabTokenizer(VARIABLE_VOCAB);
    this.templateVocabSize = this.template.size;
    this.maxTokenId = this.template.size + this.variable.size - 1;
    this.bosId = this.maxTokenId + 1;
    this.eosId = this.maxTokenId + 2;
    this.varCounts = Int32Array.from(this.template.vocab, countVars);
    this.detok = [
      ...this.template.vocab.map((t) => `[${t}]`),
      ...this.variable.vocab.map((t) => `<${t}>`),
      '[BOS]', '[EOS]',
    ];
  }

  /** From the text of `template_vocab.txt` (one phrase per line, as Python's readlines() splits it). */
  static fromVocab(text: string): TemplateTokenizer {
    // Text-mode readlines(): universal newlines, then rstrip('\n') of each line.
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    if (lines.length === 0 || lines.every((l) => l === '')) {
      throw new TokenizerError('template vocabulary', 'the file holds no phrases', { hint: 'pass template_vocab.txt from echo_CLIP (770 lines)' });
    }
    return new TemplateTokenizer(lines);
  }

  /** Runs `template_tokenize` and returns its intermediate values too. */
  trace(report: string): TemplateTrace {
    if (typeof report !== 'string') throw new TokenizerError('template tokenizer', `expected a string, got ${report === null ? 'null' : typeof report}`, { hint: 'pass reports as strings' });
    const cleaned = cleanReportText(report);
    const { variables, text: withVars } = extractVariables(cleaned);
    let templated = withVars;
    for (const [from, to] of REPLACEMENTS) templated = replaceAllLiteral(templated, from, to);
    const enc = this.template.encode(templated);

    // Which extracted variables sit inside matched phrases (True) or in dropped gaps (False).
    const mask: boolean[] = [];
    for (let k = 0; k < enc.ids.length; k++) {
      const id = enc.ids[k];
      if (enc.tokens[k] !== '[UNK]') {
        for (let v = 0; v < this.varCounts[id]; v++) mask.push(true);
      } else {
        const [s, e] = enc.spans[k];
        for (let v = countVars(templated.slice(s, e)); v > 0; v--) mask.push(false);
      }
    }
    const matched: string[] = [];
    const n = Math.min(variables.length, mask.length); // Python zip() stops at the shorter
    for (let v = 0; v < n; v++) if (mask[v]) matched.push(variables[v]);

    const out: number[] = [this.bosId];
    let next = 0;
    for (const id of enc.ids) {
      if (id === UNK_ID) continue; // the reference drops every [UNK] gap
      out.push(id);
      const count = this.varCounts[id];
      if (count === 0) continue;
      if (next + count > matched.length) {
        throw new TokenizerError('template tokenizer', `the phrase ${JSON.stringify(this.template.vocab[id])} needs ${count} value(s) but only ${matched.length - next} remain (echo_CLIP raises "IndexError: pop from empty list" here: a <#> placeholder in the text has no number)`, { hint: 'write the number instead of <#>, or remove the placeholder' });
      }
      const varString = matched.slice(next, next + count).join(VAR_JOINER);
      next += count;
      for (const vid of this.variable.encode(varString).ids) out.push(vid + this.templateVocabSize);
    }
    out.push(this.eosId);
    return { cleaned, variables, templated, ids: padOrTruncate(out, TEMPLATE_CONTEXT_LENGTH) };
  }

  /** echo_CLIP `template_tokenize(report)`: 77 ids. */
  tokenizeOne(report: string): Int32Array {
    return this.trace(report).ids;
  }

  /** `template_tokenize` for each report. */
  tokenize(reports: string | readonly string[]): Int32Array[] {
    const list = typeof reports === 'string' ? [reports] : reports;
    return list.map((r) => this.tokenizeOne(r));
  }

  /** echo_CLIP `template_detokenize(ids)`: `[phrase]`, `<variable>`, `[BOS]`, `[EOS]` per id. */
  detokenize(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => {
      const s = Number.isInteger(id) ? this.detok[id] : undefined;
      if (s === undefined) throw new TokenizerError('template detokenizer', `id ${id} is not a template token (valid ids are 0..${this.eosId})`, { hint: 'pass ids produced by the template tokenizer' });
      return s;
    });
  }
}

/** echo_CLIP `pad_or_trunc`: truncation keeps the first `length` ids and ends with max(ids) (EOS). */
function padOrTruncate(tokens: readonly number[], length: number): Int32Array {
  const row = new Int32Array(length);
  if (tokens.length > length) {
    let max = tokens[0];
    for (const t of tokens) if (t > max) max = t;
    row.set(tokens.slice(0, length));
    row[length - 1] = max;
  } else {
    row.set(tokens);
  }
  return row;
}
