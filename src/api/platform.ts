// What the one-line API needs from its runtime: files and the disk cache in Node/Deno, fetch and
// the Origin Private File System in browsers. The Node implementation is loaded at run time by a
// computed specifier, so browser bundles never see node:* imports.
import type { Runtime } from '../gpu/device.js';
import type { TensorSource } from '../io/source.js';
import type { ClipConfig } from '../models/config.js';
import type { ClipBpeTokenizer } from '../tokenizer/clip-bpe.js';
import type { PreprocessOptions, PreprocessedVideo } from '../video/video.js';
import type { PinnedAsset } from './assets.js';
import { runtime } from './env.js';

export interface DownloadEvent {
  stage: 'download';
  file: string;
  done: number;
  total: number | undefined;
}

export interface AssetOptions {
  /** Base URL of the pinned echo_CLIP files (default: $ECHOCLIP_ASSETS_BASE_URL or GitHub at the pinned commit). */
  assetsBaseUrl?: string;
  /** Node/Deno cache root (default $ECHOCLIP_CACHE_DIR or ~/.cache/echoclip); browsers use OPFS. */
  cacheDir?: string;
  onDownload?: (e: DownloadEvent) => void;
}

export interface WeightsOptions extends AssetOptions {
  /** Hub base URL (default $ECHOCLIP_HUB_URL or https://huggingface.co). */
  hubUrl?: string;
}

/** Weights opened for loading; `reopen` gives a fresh source (Grad-CAM loads a trainable copy). */
export interface OpenedModelWeights {
  config: ClipConfig;
  source: TensorSource;
  /** Names the weights in errors (a path or URL). */
  label: string;
  /** A local weights file: keys the on-disk prompt-embedding cache (Node). */
  file?: string;
  reopen(): Promise<TensorSource>;
}

/** Prompt text → L2-normalised embedding, persisted per (weights, dtype, tokenizer). */
export interface EmbeddingCache {
  get(text: string): Float32Array | undefined;
  set(text: string, embedding: Float32Array): void;
  save(): Promise<void>;
}

export interface Platform {
  runtime: Runtime;
  /** Bytes of a local path (Node/Deno) or a URL (browsers). */
  readBytes(location: string, what: string): Promise<Uint8Array>;
  /** A pinned echo_CLIP file: from the cache, else downloaded, checked and cached. */
  pinnedAsset(asset: PinnedAsset, opts: AssetOptions): Promise<Uint8Array>;
  /** The CLIP BPE vocabulary shipped in the package (gzip bytes). */
  shippedVocab(): Promise<Uint8Array>;
  /** CLIP BPE from a .txt.gz / .txt, or (Node/Deno) a directory with vocab.json + merges.txt. */
  loadBpe(location: string): Promise<ClipBpeTokenizer>;
  /** A weights location: hub id, local directory/file (Node/Deno) or a directory URL (browsers). */
  openWeights(location: string, opts: WeightsOptions): Promise<OpenedModelWeights>;
  /** A file of that name beside local weights (a weights directory, or a file's directory). */
  besideWeights(location: string, file: string): Promise<string | undefined>;
  /** A path to a video file, decoded and preprocessed (Node/Deno). */
  preprocessVideoPath(path: string, opts: PreprocessOptions): Promise<PreprocessedVideo>;
  /** The persistent prompt-embedding cache, where the platform has one. */
  embeddingCache(weightsFile: string, variant: string, dim: number): Promise<EmbeddingCache | undefined>;
}

let loaded: Promise<Platform> | undefined;

/** The platform of this runtime (cached). */
export function currentPlatform(): Promise<Platform> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<Platform> {
  if (runtime() === 'browser') return (await import('./platform-browser.js')).browserPlatform();
  // From the sources (vitest, tsx) the sibling module; from dist/ (index.js and its chunks sit
  // beside node.js) the Node entry, which re-exports it. A variable keeps bundlers out.
  const spec = import.meta.url.endsWith('.ts') ? './platform-node.js' : './node.js';
  const mod = (await import(/* @vite-ignore */ spec)) as { nodePlatform(): Platform };
  return mod.nodePlatform();
}
