// Node and Deno: local files, the hub download cache, the pinned echo_CLIP files cached beside the
// weights (same cache root as the hub files), and the on-disk prompt-embedding cache.
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DownloadError, TokenizerError, UsageError } from '../errors.js';
import { downloadVerified, hubCacheDir } from '../io/hub-node.js';
import { openWeights, openWeightsFile } from '../io/weights-node.js';
import { PromptCache, weightsHash } from '../cli/prompt-cache.js';
import { loadClipBpeTokenizer } from '../tokenizer/load-node.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { runtime } from './env.js';
import { assetUrl, offlineHint, ECHO_CLIP_COMMIT, sha256Hex, shippedVocabCandidates, type PinnedAsset } from './assets.js';
import type { AssetOptions, Platform } from './platform.js';

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** Where a pinned echo_CLIP file is cached: <cache>/assets/echo_CLIP-<commit>/<file>. */
export function pinnedAssetPath(asset: PinnedAsset, cacheDir?: string): string {
  return path.join(hubCacheDir({ cacheDir }), 'assets', `echo_CLIP-${ECHO_CLIP_COMMIT.slice(0, 12)}`, asset.file);
}

/**
 * The local path of a pinned echo_CLIP file: the cached copy when its sha256 still matches (no
 * network), else a fresh download (resumable, checked; a mismatching file is deleted).
 */
export async function pinnedAssetFile(asset: PinnedAsset, opts: AssetOptions = {}): Promise<string> {
  const dest = pinnedAssetPath(asset, opts.cacheDir);
  if (await isFile(dest)) {
    if ((await sha256Hex(new Uint8Array(await readFile(dest)))) === asset.sha256) return dest;
    await rm(dest, { force: true }); // damaged cache entry: fetch it again
  }
  const url = assetUrl(asset, opts.assetsBaseUrl);
  try {
    await downloadVerified(url, dest, {
      what: `echo_CLIP/${asset.file}`,
      file: asset.file,
      etag: asset.sha256,
      checksum: { kind: 'sha256', hex: asset.sha256 },
      onProgress: opts.onDownload && ((p) => opts.onDownload!({ stage: 'download', file: p.file, done: p.received, total: p.total })),
    });
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    throw new DownloadError(`echo_CLIP/${asset.file}`, `cannot download it from ${url}: ${e.message}`, {
      hint: offlineHint(asset),
      cause: e,
    });
  }
  return dest;
}

async function readLocal(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new UsageError(file, `cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'check the path', cause: e });
  }
}

export function nodePlatform(): Platform {
  return {
    runtime: runtime(),
    readBytes: (location, what) => readLocal(location.startsWith('file:') ? fileURLToPath(location) : location, what),
    async pinnedAsset(asset, opts) {
      return new Uint8Array(await readFile(await pinnedAssetFile(asset, opts)));
    },
    async shippedVocab() {
      for (const u of shippedVocabCandidates()) {
        const p = fileURLToPath(u);
        if (await isFile(p)) return new Uint8Array(await readFile(p));
      }
      throw new TokenizerError('bpe_simple_vocab_16e6.txt.gz', 'the vocabulary shipped in the package is missing', { hint: 'reinstall echoclip-webgpu, or pass --vocab / { vocab } with the file' });
    },
    loadBpe: (location) => loadClipBpeTokenizer(location.startsWith('file:') ? fileURLToPath(location) : location),
    async openWeights(location, opts) {
      const w = await openWeights(location, {
        baseUrl: opts.hubUrl,
        cacheDir: opts.cacheDir,
        onProgress: opts.onDownload && ((p) => opts.onDownload!({ stage: 'download', file: p.file, done: p.received, total: p.total })),
      });
      return { config: w.config, source: w.source, label: w.files.weights, file: w.files.weights, reopen: () => openWeightsFile(w.files.weights) };
    },
    async besideWeights(location, file) {
      if (location.startsWith('hf-hub:')) return undefined;
      const s = await stat(location).catch(() => undefined);
      if (!s) return undefined;
      const cand = path.join(s.isDirectory() ? location : path.dirname(location), file);
      return (await stat(cand).then(() => true, () => false)) ? cand : undefined;
    },
    preprocessVideoPath: (file, opts) => preprocessVideoFile(file, opts),
    async embeddingCache(weightsFile, variant, dim) {
      return PromptCache.open(await weightsHash(weightsFile), variant, dim);
    },
  };
}
