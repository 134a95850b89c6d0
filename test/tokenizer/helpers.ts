// Shared fixtures for the tokenizer suites (data comes from ../shared, never copied).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClipBpeTokenizer, TemplateTokenizer } from '../../src/tokenizer/index.js';

export const SHARED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
export const sharedPath = (...p: string[]): string => path.join(SHARED, ...p);
export const readJson = <T>(...p: string[]): T => JSON.parse(readFileSync(sharedPath(...p), 'utf8')) as T;

export const BPE_GZ = sharedPath('vocab', 'bpe_simple_vocab_16e6.txt.gz');
export const TEMPLATE_VOCAB = sharedPath('vocab', 'template_vocab.txt');

let bpe: Promise<ClipBpeTokenizer> | undefined;
export const loadBpe = (): Promise<ClipBpeTokenizer> => (bpe ??= ClipBpeTokenizer.fromGzip(readFileSync(BPE_GZ)));
let template: TemplateTokenizer | undefined;
export const loadTemplate = (): TemplateTokenizer => (template ??= TemplateTokenizer.fromVocab(readFileSync(TEMPLATE_VOCAB, 'utf8')));

export interface BpeCase { category: string; text: string; ids: number[]; n_tokens_untruncated: number }
export interface TemplateCase { category: string; text: string; ids?: number[]; cleaned?: string; variables?: string[]; detokenized?: string[]; error?: string }
export interface EncodeCall { tokenizer: 'template_tokenizer' | 'variable_tokenizer'; text: string; ids: number[]; tokens: string[]; offsets: [number, number][] }

/** Describes up to `max` differences between `got` and `want` rows, for one readable failure. */
export function rowMismatches<T>(cases: readonly T[], got: (c: T) => unknown, want: (c: T) => unknown, label: (c: T) => string, max = 5): string[] {
  const out: string[] = [];
  let more = 0;
  for (const c of cases) {
    const g = JSON.stringify(got(c));
    const w = JSON.stringify(want(c));
    if (g === w) continue;
    if (out.length < max) out.push(`${label(c)}\n  got  ${g.slice(0, 300)}\n  want ${w.slice(0, 300)}`);
    else more++;
  }
  if (more > 0) out.push(`... and ${more} more`);
  return out;
}
