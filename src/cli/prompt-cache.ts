// On-disk cache of prompt embeddings, keyed by the weights' sha256, the weight dtype, the
// tokenizer and the prompt text: a second `zero-shot` run skips the text tower entirely.
// The weights hash itself is cached by (path, size, mtime), so a 606 MB file is hashed once.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './common.js';

export function cacheRoot(): string {
  return process.env.ECHOCLIP_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'echoclip');
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined; // missing or corrupt: the cache is only an optimisation
  }
}

/** sha256 of a file, remembered per (absolute path, size, mtime). */
export async function weightsHash(file: string): Promise<string> {
  const abs = path.resolve(file);
  const s = await stat(abs);
  const index = path.join(cacheRoot(), 'weights-hashes.json');
  const known = (await readJson<Record<string, string>>(index)) ?? {};
  const key = `${abs}|${s.size}|${s.mtimeMs}`;
  if (known[key]) return known[key];
  const h = createHash('sha256');
  await new Promise<void>((ok, fail) => createReadStream(abs).on('data', (c) => h.update(c)).on('end', ok).on('error', fail));
  known[key] = h.digest('hex');
  await mkdir(path.dirname(index), { recursive: true });
  await writeFileAtomic(index, JSON.stringify(known));
  return known[key];
}

/** Prompt text → embedding for one (weights, dtype, tokenizer); stored as one JSON of base64 f32. */
export class PromptCache {
  private constructor(
    private readonly file: string,
    private readonly entries: Map<string, Float32Array>,
    readonly dim: number,
  ) {}

  static async open(weightsSha: string, variant: string, dim: number): Promise<PromptCache> {
    const file = path.join(cacheRoot(), 'prompts', `${weightsSha}-${variant}.json`);
    const raw = (await readJson<Record<string, string>>(file)) ?? {};
    const entries = new Map<string, Float32Array>();
    for (const [text, b64] of Object.entries(raw)) {
      const bytes = Buffer.from(b64, 'base64');
      if (bytes.byteLength !== dim * 4) continue; // a foreign or damaged entry is just recomputed
      entries.set(text, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    }
    return new PromptCache(file, entries, dim);
  }

  get(text: string): Float32Array | undefined {
    return this.entries.get(text);
  }

  set(text: string, emb: Float32Array): void {
    this.entries.set(text, emb.slice());
  }

  async save(): Promise<void> {
    const out: Record<string, string> = {};
    for (const [t, e] of this.entries) out[t] = Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64');
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, JSON.stringify(out));
  }
}
