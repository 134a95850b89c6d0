// Node-only loaders for tokenizer files (the core in index.ts takes bytes and strings).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenizerError } from '../errors.js';
import { ClipBpeTokenizer } from './clip-bpe.js';
import { TemplateTokenizer } from './template.js';

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TokenizerError(path, `cannot read the ${what} (${code ?? (e instanceof Error ? e.message : String(e))})`, { hint: 'check the path', cause: e });
  }
}

const utf8 = (bytes: Uint8Array, path: string): string => {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new TokenizerError(path, 'is not valid UTF-8 text', { hint: 'pass the original vocabulary file', cause: e });
  }
};

/**
 * CLIP BPE from `bpe_simple_vocab_16e6.txt.gz` (or its unzipped .txt), or from a directory that
 * holds the Hugging Face `vocab.json` + `merges.txt`.
 */
export async function loadClipBpeTokenizer(path: string): Promise<ClipBpeTokenizer> {
  let isDir = false;
  try { isDir = (await stat(path)).isDirectory(); } catch { /* readBytes reports the error */ }
  if (isDir) {
    const vocab = join(path, 'vocab.json');
    const merges = join(path, 'merges.txt');
    return ClipBpeTokenizer.fromVocabJsonAndMerges(utf8(await readBytes(vocab, 'CLIP vocab.json'), vocab), utf8(await readBytes(merges, 'CLIP merges.txt'), merges));
  }
  const bytes = await readBytes(path, 'CLIP BPE vocabulary');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return ClipBpeTokenizer.fromGzip(bytes);
  return ClipBpeTokenizer.fromMergesText(utf8(bytes, path));
}

/** The EchoCLIP-R template tokenizer from `template_vocab.txt`. */
export async function loadTemplateTokenizer(path: string): Promise<TemplateTokenizer> {
  return TemplateTokenizer.fromVocab(utf8(await readBytes(path, 'template vocabulary'), path));
}
