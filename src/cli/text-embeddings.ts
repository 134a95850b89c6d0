// Texts → L2-normalised embeddings through the tokenizer and the text tower, with the prompt cache.
import { TokenizerError } from '../errors.js';
import type { EchoClipModel } from '../models/clip.js';
import { l2NormalizeRows } from '../tasks/array.js';
import type { TextTokenizer } from './common.js';
import { progressBar } from './progress.js';
import { PromptCache, weightsHash } from './prompt-cache.js';

export interface EmbedTextsResult {
  /** [texts.length, D], L2-normalised. */
  embeddings: Float32Array;
  cached: number;
  computed: number;
}

export async function embedTexts(model: EchoClipModel, weightsFile: string, tok: TextTokenizer, texts: readonly string[], useCache = true): Promise<EmbedTextsResult> {
  const D = model.config.embedDim;
  const L = model.config.text.contextLength;
  const cache = useCache ? await PromptCache.open(await weightsHash(weightsFile), `${model.weightDtype}-${tok.kind}`, D) : undefined;
  const out = new Float32Array(texts.length * D);
  const todo: number[] = [];
  texts.forEach((t, i) => {
    const hit = cache?.get(t);
    if (hit) out.set(hit, i * D);
    else todo.push(i);
  });
  if (todo.length) {
    const ids = new Int32Array(todo.length * L);
    todo.forEach((ti, j) => {
      const row = tok.tokenize([texts[ti]])[0];
      if (row.length !== L) throw new TokenizerError('prompt', `tokenizer gave ${row.length} ids, the model's context is ${L}`);
      ids.set(row, j * L);
    });
    const bar = progressBar('text tower', { unit: 'items' });
    const f = l2NormalizeRows({ data: await model.encodeTexts(ids, { onProgress: (d, n) => bar.update(d, n) }), shape: [todo.length, D] }).data;
    bar.finish();
    todo.forEach((ti, j) => {
      const e = f.subarray(j * D, (j + 1) * D);
      out.set(e, ti * D);
      cache?.set(texts[ti], e);
    });
    await cache?.save();
  }
  return { embeddings: out, cached: texts.length - todo.length, computed: todo.length };
}
