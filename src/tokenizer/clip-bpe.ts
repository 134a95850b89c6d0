// CLIP byte-level BPE exactly as open_clip 2.20 `tokenize` (SimpleTokenizer) does it:
// ftfy.fix_text -> html.unescape x2 -> strip -> collapse whitespace -> lower -> regex
// pre-tokenizer -> bytes_to_unicode -> BPE by merge rank -> [SOT] ids [EOT], 77 ids, pad 0.
import { TokenizerError } from '../errors.js';
import { fixText } from './ftfy.js';
import { gunzip } from './gzip.js';
import { pythonHtmlUnescape } from './html.js';
import { pyStrip, REGEX_MODULE_SPACE } from './pytext.js';

export const CLIP_SOT = 49406;
export const CLIP_EOT = 49407;
export const CLIP_VOCAB_SIZE = 49408;
export const CONTEXT_LENGTH = 77;
/** open_clip keeps merges [1 : 49152-256-2+1] of the vocabulary file. */
const N_MERGES = 49152 - 256 - 2;
const SPECIAL_TOKENS = ['<start_of_text>', '<end_of_text>'];

/**
 * GPT-2's bytes_to_unicode(): printable bytes map to themselves, the other 68 to U+0100 upwards.
 * `table[b]` is the character for byte b; `order` lists the characters in the dict's insertion
 * order, which is the order of the vocabulary's first 256 ids.
 */
export function bytesToUnicode(): { table: string[]; order: string[] } {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  const rest: number[] = [];
  for (let b = 0; b < 256; b++) if (table[b] === undefined) { table[b] = String.fromCharCode(256 + rest.length); rest.push(b); }
  return { table, order: [...printable, ...rest].map((b) => table[b]) };
}

const WS_RUN = new RegExp(`[${REGEX_MODULE_SPACE}]+`, 'gu');
// open_clip's pattern, run with the `regex` module and IGNORECASE. Its case-insensitive matching
// is spelled out instead of using JS's 'i' flag, because the two differ: under `regex` (checked
// over every code point) the literals' letters match only their ASCII case pair, plus U+017F
// 'ſ' for 's', and U+0345 (which case-folds to a Greek letter) matches no alternative at all, so
// findall() drops it, while JS /iu would count it as a letter.
const ci = (literal: string): string =>
  literal.replace(/[a-z]/g, (ch) => (ch === 's' ? '[sS\u017f]' : `[${ch}${ch.toUpperCase()}]`));
const PRETOKEN = new RegExp(
  [...['<start_of_text>', '<end_of_text>', "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map(ci),
    '\\p{L}+', '\\p{N}', `[^${REGEX_MODULE_SPACE}\\p{L}\\p{N}\\u0345]+`].join('|'),
  'gu',
);

/** open_clip's pre-tokens of an already cleaned text (`re.findall(self.pat, text)`). */
export function clipPreTokens(cleanText: string): string[] {
  return cleanText.match(PRETOKEN) ?? [];
}

/** Pre-processing of open_clip's `encode`: basic_clean then whitespace_clean then lower(). */
export function clipCleanText(text: string): string {
  let t = fixText(text);
  t = pythonHtmlUnescape(pythonHtmlUnescape(t));
  t = pyStrip(t);
  t = pyStrip(t.replace(WS_RUN, ' '));
  return t.toLowerCase();
}

// ---------------------------------------------------------------- BPE with a min-heap
// open_clip repeatedly merges the lowest-ranked adjacent pair, all occurrences left to right in one
// pass. Processing heap entries in (rank, position) order, one rank at a time, gives the same
// result in O(n log n), so a pathological 1-MB "word" cannot stall the tokenizer.
class PairHeap {
  private rank: number[] = [];
  private pos: number[] = [];
  get size(): number { return this.rank.length; }
  topRank(): number { return this.rank[0]; }
  private less(i: number, j: number): boolean {
    return this.rank[i] < this.rank[j] || (this.rank[i] === this.rank[j] && this.pos[i] < this.pos[j]);
  }
  private swap(i: number, j: number): void {
    [this.rank[i], this.rank[j]] = [this.rank[j], this.rank[i]];
    [this.pos[i], this.pos[j]] = [this.pos[j], this.pos[i]];
  }
  push(rank: number, pos: number): void {
    this.rank.push(rank); this.pos.push(pos);
    let i = this.rank.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p); i = p;
    }
  }
  /** Removes the minimum; returns its position. */
  pop(): number {
    const top = this.pos[0];
    const lastR = this.rank.pop()!, lastP = this.pos.pop()!;
    if (this.rank.length > 0) {
      this.rank[0] = lastR; this.pos[0] = lastP;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < this.rank.length && this.less(l, m)) m = l;
        if (r < this.rank.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m); i = m;
      }
    }
    return top;
  }
}

export interface ClipBpeOptions {
  /** Largest number of distinct words kept in the BPE cache (open_clip's is unbounded). */
  cacheSize?: number;
}

/** open_clip 2.20 `SimpleTokenizer` + `tokenize`, platform-neutral (bytes and strings only). */
export class ClipBpeTokenizer {
  private readonly encoder: Map<string, number>;
  private readonly vocab: readonly string[];
  /** Merge rank by pair of symbol ids (left * 65536 + right): numbers, so lookups allocate nothing. */
  private readonly pairRank = new Map<number, number>();
  /** The id of the symbol that merge `rank` produces. */
  private readonly mergeResult: Int32Array;
  private readonly byteEncoder = bytesToUnicode().table;
  private readonly textEncoder = new TextEncoder();
  private readonly cache = new Map<string, readonly number[]>();
  private readonly cacheSize: number;
  readonly vocabSize: number;

  private constructor(vocab: readonly string[], merges: readonly (readonly [string, string])[], options: ClipBpeOptions) {
    this.vocab = vocab;
    this.encoder = new Map(vocab.map((tok, i) => [tok, i]));
    // Every symbol of a word is a vocabulary token (bytes, bytes + '</w>', merge results), so the
    // BPE can run on ids. A merge whose parts are not tokens could never apply. Duplicate pairs
    // keep the last rank and duplicate tokens the last id, as Python's dicts do.
    this.mergeResult = new Int32Array(merges.length).fill(-1);
    merges.forEach(([a, b], rank) => {
      const ia = this.encoder.get(a), ib = this.encoder.get(b), merged = this.encoder.get(a + b);
      if (ia === undefined || ib === undefined || merged === undefined) return;
      this.pairRank.set(ia * 65536 + ib, rank);
      this.mergeResult[rank] = merged;
    });
    this.vocabSize = vocab.length;
    this.cacheSize = options.cacheSize ?? 100_000;
  }

  /** From `bpe_simple_vocab_16e6.txt.gz` (the bytes of the gzip file). */
  static async fromGzip(bytes: Uint8Array, options: ClipBpeOptions = {}): Promise<ClipBpeTokenizer> {
    const raw = await gunzip(bytes, 'CLIP BPE vocabulary');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch (e) {
      throw new TokenizerError('CLIP BPE vocabulary', 'the unzipped file is not valid UTF-8', { hint: 'pass bpe_simple_vocab_16e6.txt.gz from open_clip 2.20', cause: e });
    }
    return ClipBpeTokenizer.fromMergesText(text, options);
  }

  /** From the unzipped `bpe_simple_vocab_16e6.txt` text (header line, then one merge per line). */
  static fromMergesText(text: string, options: ClipBpeOptions = {}): ClipBpeTokenizer {
    const lines = text.split('\n');
    if (lines.length < N_MERGES + 1) {
      throw new TokenizerError('CLIP BPE vocabulary', `expected at least ${N_MERGES + 1} lines (a header and ${N_MERGES} merges), found ${lines.length}`, { hint: 'pass bpe_simple_vocab_16e6.txt.gz from open_clip 2.20' });
    }
    const merges = lines.slice(1, N_MERGES + 1).map((line, i) => parseMerge(line, i + 1, 'CLIP BPE vocabulary'));
    const base = bytesToUnicode().order;
    const vocab = [...base, ...base.map((v) => v + '</w>'), ...merges.map(([a, b]) => a + b), ...SPECIAL_TOKENS];
    return new ClipBpeTokenizer(vocab, merges, options);
  }

  /**
   * From the Hugging Face form: `vocab.json` (token -> id) and `merges.txt` ('#version' header,
   * then one merge per line). Checked against the layout open_clip uses, so the ids agree.
   */
  static fromVocabJsonAndMerges(vocabJson: string, mergesText: string, options: ClipBpeOptions = {}): ClipBpeTokenizer {
    let parsed: unknown;
    try { parsed = JSON.parse(vocabJson); } catch (e) {
      throw new TokenizerError('vocab.json', `not valid JSON (${e instanceof Error ? e.message : String(e)})`, { hint: 'pass the vocab.json of a CLIP tokenizer' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TokenizerError('vocab.json', 'expected a JSON object mapping tokens to ids', { hint: 'pass the vocab.json of a CLIP tokenizer' });
    }
    const entries = Object.entries(parsed as Record<string, unknown>);
    const vocab = new Array<string>(entries.length);
    for (const [tok, id] of entries) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length || vocab[id] !== undefined) {
        throw new TokenizerError('vocab.json', `token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}; expected distinct integer ids 0..${entries.length - 1}`, { hint: 'pass the vocab.json of a CLIP tokenizer' });
      }
      vocab[id] = tok;
    }
    const lines = mergesText.split('\n');
    const body = lines[0]?.startsWith('#version') ? lines.slice(1) : lines;
    const merges = body.filter((l) => l.trim() !== '').map((line, i) => parseMerge(line, i + 1, 'merges.txt'));
    if (merges.length !== N_MERGES || vocab.length !== CLIP_VOCAB_SIZE) {
      throw new TokenizerError('vocab.json', `expected CLIP's ${N_MERGES} merges and ${CLIP_VOCAB_SIZE} tokens, found ${merges.length} merges and ${vocab.length} tokens`, { hint: 'vocab.json and merges.txt must come from the same CLIP tokenizer' });
    }
    if (!['<|startoftext|>', SPECIAL_TOKENS[0]].includes(vocab[CLIP_SOT]) || !['<|endoftext|>', SPECIAL_TOKENS[1]].includes(vocab[CLIP_EOT])) {
      throw new TokenizerError('vocab.json', `ids ${CLIP_SOT}/${CLIP_EOT} are ${JSON.stringify(vocab[CLIP_SOT])}/${JSON.stringify(vocab[CLIP_EOT])}, expected <|startoftext|>/<|endoftext|>`, { hint: 'this is not a CLIP vocabulary' });
    }
    const base = bytesToUnicode().order;
    const want = [...base, ...base.map((v) => v + '</w>'), ...merges.map(([a, b]) => a + b)];
    const bad = want.findIndex((tok, id) => vocab[id] !== tok);
    if (bad >= 0) {
      throw new TokenizerError('vocab.json', `id ${bad} is ${JSON.stringify(vocab[bad])}, expected ${JSON.stringify(want[bad])}${bad >= 512 ? ` (merge ${bad - 511} of merges.txt)` : ' (a CLIP byte token)'}`, { hint: 'vocab.json and merges.txt must come from the same CLIP tokenizer' });
    }
    // open_clip names the specials <start_of_text>/<end_of_text>; the HF files say <|startoftext|>.
    vocab[CLIP_SOT] = SPECIAL_TOKENS[0];
    vocab[CLIP_EOT] = SPECIAL_TOKENS[1];
    return new ClipBpeTokenizer(vocab, merges, options);
  }

  /** BPE ids of one pre-token (already mapped through bytes_to_unicode). */
  private bpe(token: string): readonly number[] {
    const cached = this.cache.get(token);
    if (cached !== undefined) return cached;
    const special = this.encoder.get(token);
    let ids: number[];
    if (special !== undefined && (special === CLIP_SOT || special === CLIP_EOT)) {
      ids = [special]; // open_clip seeds its cache with the specials: no BPE, no </w>
    } else {
      ids = this.mergeWord(token);
    }
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(token, ids);
    return ids;
  }

  private mergeWord(token: string): number[] {
    const chars = Array.from(token); // bytes_to_unicode characters, one per byte
    const n = chars.length;
    const sym = new Int32Array(n);
    for (let i = 0; i < n; i++) sym[i] = this.encoder.get(i === n - 1 ? chars[i] + '</w>' : chars[i])!;
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
    const alive = new Uint8Array(n).fill(1);
    const heap = new PairHeap();
    const rankAt = (i: number): number | undefined => (next[i] < 0 ? undefined : this.pairRank.get(sym[i] * 65536 + sym[next[i]]));
    for (let i = 0; i + 1 < n; i++) { const r = rankAt(i); if (r !== undefined) heap.push(r, i); }
    const batch: number[] = [];
    while (heap.size > 0) {
      const r = heap.topRank();
      batch.length = 0;
      while (heap.size > 0 && heap.topRank() === r) batch.push(heap.pop());
      for (const i of batch) {
        // Stale entries: the left symbol was merged away or its right neighbour changed.
        if (!alive[i] || rankAt(i) !== r) continue;
        const j = next[i];
        sym[i] = this.mergeResult[r];
        alive[j] = 0;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0) { const rp = rankAt(prev[i]); if (rp !== undefined) heap.push(rp, prev[i]); }
        const rn = rankAt(i);
        if (rn !== undefined) heap.push(rn, i);
      }
    }
    const ids: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) ids.push(sym[i]);
    return ids;
  }

  /**
   * BPE ids of `text` without SOT/EOT (open_clip `encode`). With `limit`, stops once that many
   * ids exist: tokenize() needs only the first 75, which bounds the work on huge inputs.
   */
  encode(text: string, limit = Number.POSITIVE_INFINITY): number[] {
    const clean = clipCleanText(text);
    const out: number[] = [];
    PRETOKEN.lastIndex = 0;
    for (let m = PRETOKEN.exec(clean); m !== null && out.length < limit; m = PRETOKEN.exec(clean)) {
      const bytes = this.textEncoder.encode(m[0]);
      let mapped = '';
      for (const b of bytes) mapped += this.byteEncoder[b];
      for (const id of this.bpe(mapped)) out.push(id);
    }
    return out;
  }

  /** One row of open_clip `tokenize`: [SOT] ids [EOT], truncated with EOT forced last, zero-padded. */
  tokenizeOne(text: string, contextLength = CONTEXT_LENGTH): Int32Array {
    if (typeof text !== 'string') throw new TokenizerError('CLIP BPE', `expected a string, got ${text === null ? 'null' : typeof text}`, { hint: 'pass texts as strings' });
    if (!Number.isInteger(contextLength) || contextLength < 1) throw new TokenizerError('CLIP BPE', `context length must be a positive integer, got ${contextLength}`, { hint: 'EchoCLIP uses 77' });
    const row = new Int32Array(contextLength);
    const ids = this.encode(text, contextLength - 1);
    row[0] = CLIP_SOT;
    const n = Math.min(ids.length, contextLength - 2);
    for (let i = 0; i < n; i++) row[i + 1] = ids[i];
    row[Math.min(ids.length + 1, contextLength - 1)] = CLIP_EOT;
    return row;
  }

  /** open_clip `tokenize(texts)`: one Int32Array of `contextLength` ids per text. */
  tokenize(texts: string | readonly string[], contextLength = CONTEXT_LENGTH): Int32Array[] {
    const list = typeof texts === 'string' ? [texts] : texts;
    return list.map((t) => this.tokenizeOne(t, contextLength));
  }

  /** Token strings for ids (the vocabulary view; `</w>` marks word ends). */
  idToToken(id: number): string | undefined {
    return this.vocab[id];
  }
}

function parseMerge(line: string, lineNo: number, what: string): [string, string] {
  // Python's str.split(): any whitespace run; a merge line is exactly two symbols.
  const parts = line.split(/[ \t\r\f\v]+/).filter((p) => p !== '');
  if (parts.length !== 2) {
    throw new TokenizerError(what, `line ${lineNo} should hold two space-separated symbols, found ${JSON.stringify(line.slice(0, 80))}`, { hint: 'the vocabulary file is truncated or not a BPE merges file' });
  }
  return [parts[0], parts[1]];
}
