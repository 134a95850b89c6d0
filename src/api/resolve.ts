// Which vocabulary, template vocabulary and prompt set a run uses, in one order everywhere (CLI
// and API, every runtime):
//   1. the explicit flag / option (--vocab, --template-vocab, --prompts; a path, URL or bytes);
//   2. the file beside local weights (a weights directory in the hub layout may carry them);
//   3. the default: the vocabulary shipped in the package, or the pinned echo_CLIP download.
import { TokenizerError, UsageError } from '../errors.js';
import { parsePromptSets, type PromptTask } from '../tasks/prompts.js';
import { ClipBpeTokenizer } from '../tokenizer/clip-bpe.js';
import { TemplateTokenizer } from '../tokenizer/template.js';
import { BPE_VOCAB_FILE, PROMPTS_ASSET, TEMPLATE_VOCAB_ASSET } from './assets.js';
import type { AssetOptions, Platform } from './platform.js';

export type TokenizerKind = 'bpe' | 'template';

export interface TextTokenizer {
  kind: TokenizerKind;
  tokenize(texts: readonly string[]): Int32Array[];
}

/** A file given by the caller: a path (Node/Deno) or URL (browsers), a URL object, or its bytes. */
export type DataInput = string | URL | Blob | Uint8Array | ArrayBuffer;

/** Where a resolved file came from (logged by the CLI, asserted by the tests). */
export type Provenance = 'explicit' | 'beside-weights' | 'shipped' | 'downloaded';

export interface ResolveOptions extends AssetOptions {
  /** The weights location; a local directory is searched for the files (step 2). */
  weights?: string;
}

export async function readInput(p: Platform, input: DataInput, what: string): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  return p.readBytes(String(input), what);
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new TokenizerError(what, 'is not valid UTF-8 text', { hint: 'pass the original file', cause: e });
  }
}

async function bpeFromBytes(b: Uint8Array, what: string): Promise<ClipBpeTokenizer> {
  return b[0] === 0x1f && b[1] === 0x8b ? ClipBpeTokenizer.fromGzip(b) : ClipBpeTokenizer.fromMergesText(utf8(b, what));
}

/** The tokenizer the published model was trained with, from its hub id or name; undefined if unknown. */
export function tokenizerForModel(name: string | undefined): TokenizerKind | undefined {
  const m = /(?:^|[/:])echo[-_]?clip(-r)?$/i.exec(name?.trim() ?? '');
  return m ? (m[1] ? 'template' : 'bpe') : undefined;
}

export async function resolveTokenizer(p: Platform, kind: TokenizerKind, given: { vocab?: DataInput; templateVocab?: DataInput }, opts: ResolveOptions = {}): Promise<{ tokenizer: TextTokenizer; from: Provenance }> {
  if (kind !== 'bpe' && kind !== 'template') throw new UsageError('tokenizer', `must be bpe or template, got '${String(kind)}'`);
  const wrap = (t: ClipBpeTokenizer | TemplateTokenizer, from: Provenance) => ({ tokenizer: { kind, tokenize: (texts: readonly string[]) => t.tokenize(texts) }, from });
  const local = opts.weights;
  if (kind === 'bpe') {
    if (given.vocab !== undefined) {
      const v = given.vocab;
      return wrap(typeof v === 'string' || v instanceof URL ? await p.loadBpe(String(v)) : await bpeFromBytes(await readInput(p, v, 'CLIP BPE vocabulary'), 'CLIP BPE vocabulary'), 'explicit');
    }
    if (local) {
      const gz = await p.besideWeights(local, BPE_VOCAB_FILE);
      if (gz) return wrap(await p.loadBpe(gz), 'beside-weights');
      const json = await p.besideWeights(local, 'vocab.json');
      const merges = await p.besideWeights(local, 'merges.txt');
      if (json && merges) {
        return wrap(ClipBpeTokenizer.fromVocabJsonAndMerges(utf8(await p.readBytes(json, 'CLIP vocab.json'), json), utf8(await p.readBytes(merges, 'CLIP merges.txt'), merges)), 'beside-weights');
      }
    }
    return wrap(await ClipBpeTokenizer.fromGzip(await p.shippedVocab()), 'shipped');
  }
  let bytes: Uint8Array;
  let from: Provenance;
  let what = TEMPLATE_VOCAB_ASSET.file;
  const beside = given.templateVocab === undefined && local ? await p.besideWeights(local, TEMPLATE_VOCAB_ASSET.file) : undefined;
  if (given.templateVocab !== undefined) {
    what = typeof given.templateVocab === 'string' ? given.templateVocab : what;
    [bytes, from] = [await readInput(p, given.templateVocab, 'template vocabulary'), 'explicit'];
  } else if (beside) {
    [bytes, from, what] = [await p.readBytes(beside, 'template vocabulary'), 'beside-weights', beside];
  } else {
    [bytes, from] = [await p.pinnedAsset(TEMPLATE_VOCAB_ASSET, opts), 'downloaded'];
  }
  return wrap(TemplateTokenizer.fromVocab(utf8(bytes, what)), from);
}

/** echo_CLIP's prompt set: explicit (path, URL, bytes or the parsed JSON), beside the weights, or downloaded. */
export async function resolvePromptSets(p: Platform, prompts: DataInput | Record<string, unknown> | undefined, opts: ResolveOptions = {}): Promise<{ tasks: PromptTask[]; from: Provenance }> {
  if (prompts !== undefined && !(typeof prompts === 'string' || prompts instanceof URL || prompts instanceof Uint8Array || prompts instanceof ArrayBuffer || (typeof Blob !== 'undefined' && prompts instanceof Blob))) {
    return { tasks: parsePromptSets(prompts, { label: 'prompts option' }), from: 'explicit' };
  }
  if (prompts !== undefined) {
    const label = typeof prompts === 'string' ? prompts : 'prompts option';
    return { tasks: parsePromptSets(utf8(await readInput(p, prompts, 'prompt set'), label), { label }), from: 'explicit' };
  }
  const beside = opts.weights ? await p.besideWeights(opts.weights, PROMPTS_ASSET.file) : undefined;
  if (beside) return { tasks: parsePromptSets(utf8(await p.readBytes(beside, 'prompt set'), beside), { label: beside }), from: 'beside-weights' };
  return { tasks: parsePromptSets(utf8(await p.pinnedAsset(PROMPTS_ASSET, opts), PROMPTS_ASSET.file), { label: PROMPTS_ASSET.file }), from: 'downloaded' };
}
