// gunzip through the platform's DecompressionStream (Node >= 18, Deno, browsers).
import { TokenizerError } from '../errors.js';

/** Decompresses gzip bytes; a TokenizerError for anything that is not a valid gzip stream. */
export async function gunzip(bytes: Uint8Array, what: string): Promise<Uint8Array> {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new TokenizerError(what, `not a gzip file (expected the magic bytes 1f 8b, found ${[...bytes.subarray(0, 2)].map((b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing'})`, { hint: 'pass bpe_simple_vocab_16e6.txt.gz as shipped with open_clip' });
  }
  try {
    const stream = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new TokenizerError(what, `corrupt gzip data (${e instanceof Error ? e.message : String(e)})`, { hint: 'download the vocabulary file again', cause: e });
  }
}
