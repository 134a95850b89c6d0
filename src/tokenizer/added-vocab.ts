// The part of Hugging Face `tokenizers` 0.13.3 that echo_CLIP's template tokenizer exercises:
// a WordPiece model whose vocabulary holds only [UNK] [CLS] [SEP] [PAD] [MASK], no normalizer or
// pre-tokenizer, plus `add_tokens(list)`. `encode` then splits on the special tokens
// (leftmost-longest), splits what is left on the added tokens (leftmost-longest, plain
// case-sensitive substring matching), and every non-empty gap becomes one [UNK].

export const WORDPIECE_SPECIALS = ['[UNK]', '[CLS]', '[SEP]', '[PAD]', '[MASK]'] as const;
export const UNK_ID = 0;

/** One encoded token; offsets are [start, end) in code points, as Python's `Encoding.offsets`. */
export interface AddedVocabEncoding {
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
  /** [start, end) in UTF-16 units (for slicing the JS string). */
  spans: [number, number][];
}

// Most trie nodes below the first few levels have exactly one child, kept in plain fields;
// branching nodes index ASCII children in a 128-slot array and only other units need a Map.
// (The phrase scan is the template tokenizer's hot loop.)
interface TrieNode {
  ch: number;
  only: TrieNode | null;
  ascii: (TrieNode | undefined)[] | null;
  more: Map<number, TrieNode> | null;
  id: number;
  len: number;
}
const newNode = (): TrieNode => ({ ch: -1, only: null, ascii: null, more: null, id: -1, len: 0 });
function child(node: TrieNode, cu: number): TrieNode | undefined {
  if (node.ch === cu) return node.only!;
  if (cu < 128) return node.ascii === null ? undefined : node.ascii[cu];
  return node.more === null ? undefined : node.more.get(cu);
}
function addChild(node: TrieNode, cu: number, next: TrieNode): void {
  if (node.ch === -1) { node.ch = cu; node.only = next; return; }
  if (cu < 128) (node.ascii ??= new Array<TrieNode | undefined>(128).fill(undefined))[cu] = next;
  else (node.more ??= new Map()).set(cu, next);
}

/** Leftmost-longest matcher over a fixed set of strings (a trie walked from each start). */
class LeftmostLongest {
  private readonly root = newNode();
  /** Which UTF-16 units start some entry: a bitmap, checked at every position of the text. */
  private readonly first = new Uint8Array(0x10000);

  add(content: string, id: number): void {
    let node = this.root;
    for (let i = 0; i < content.length; i++) {
      const cu = content.charCodeAt(i);
      let next = child(node, cu);
      if (!next) {
        next = newNode();
        addChild(node, cu, next);
      }
      node = next;
    }
    node.id = id;
    node.len = content.length;
    this.first[content.charCodeAt(0)] = 1;
  }

  /** Longest match starting exactly at `i` (before `end`), or null. */
  private longestAt(text: string, i: number, end: number): { id: number; len: number } | null {
    let node: TrieNode | undefined = this.root;
    let best: TrieNode | null = null;
    for (let k = i; k < end; k++) {
      node = child(node, text.charCodeAt(k));
      if (!node) break;
      if (node.id >= 0) best = node;
    }
    return best;
  }

  /** Calls `onMatch` / `onGap` in text order over text[start, end). */
  scan(text: string, start: number, end: number, onMatch: (s: number, e: number, id: number) => void, onGap: (s: number, e: number) => void): void {
    let pos = start;
    for (let i = start; i < end; i++) {
      if (this.first[text.charCodeAt(i)] === 0) continue;
      const m = this.longestAt(text, i, end);
      if (!m) continue;
      // A match never starts inside a surrogate pair: all contents are whole strings.
      if (i > pos) onGap(pos, i);
      onMatch(i, i + m.len, m.id);
      pos = i + m.len;
      i = pos - 1;
    }
    if (end > pos) onGap(pos, end);
  }
}

/** Converts UTF-16 offsets to code-point offsets for a whole string, lazily. */
function codePointIndex(text: string): (u: number) => number {
  let table: Int32Array | null = null;
  return (u) => {
    if (table === null) {
      table = new Int32Array(text.length + 1);
      let cp = 0;
      for (let i = 0; i < text.length; i++) {
        table[i] = cp;
        const cu = text.charCodeAt(i);
        if (cu >= 0xd800 && cu <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { table[i + 1] = cp; i++; }
        cp++;
      }
      table[text.length] = cp;
    }
    return table[u];
  };
}

/** A blank-WordPiece `Tokenizer` after `add_tokens(tokens)`. */
export class AddedVocabTokenizer {
  private readonly specials = new LeftmostLongest();
  private readonly added = new LeftmostLongest();
  /** id -> content, for every id (specials first). */
  readonly vocab: string[] = [...WORDPIECE_SPECIALS];

  constructor(tokens: readonly string[]) {
    WORDPIECE_SPECIALS.forEach((t, i) => this.specials.add(t, i));
    const known = new Set<string>(WORDPIECE_SPECIALS);
    for (const t of tokens) {
      // add_tokens skips empty strings and anything already in the vocabulary (no id is used).
      if (t === '' || known.has(t)) continue;
      known.add(t);
      this.added.add(t, this.vocab.length);
      this.vocab.push(t);
    }
  }

  get size(): number { return this.vocab.length; }

  /** `Tokenizer.encode(text)` (no special tokens added: the blank tokenizer has no post-processor). */
  encode(text: string): AddedVocabEncoding {
    const out: AddedVocabEncoding = { ids: [], tokens: [], offsets: [], spans: [] };
    const cp = codePointIndex(text);
    const emit = (s: number, e: number, id: number): void => {
      out.ids.push(id);
      out.tokens.push(this.vocab[id]);
      out.spans.push([s, e]);
      out.offsets.push([cp(s), cp(e)]);
    };
    // With no pre-tokenizer a gap is one "word"; WordPiece finds no vocabulary prefix in it (the
    // only entries are the specials, already split off), so the whole gap is a single [UNK].
    const unk = (s: number, e: number): void => emit(s, e, UNK_ID);
    this.specials.scan(text, 0, text.length, emit, (s, e) => this.added.scan(text, s, e, emit, unk));
    return out;
  }
}
