// The data files a zero-shot run needs besides the weights, and where they come from:
// - the CLIP BPE vocabulary (OpenAI's MIT-licensed file) ships in the package under assets/;
// - echo_CLIP's prompts_used.json and template_vocab.txt (academic licence: never shipped) are
//   downloaded from that repository at a pinned commit, checked against their sha256, and cached.
// Platform-neutral: the Node/Deno and browser stores build on these names and checks.
import { DownloadError } from '../errors.js';
import { envVar } from './env.js';

/** echo_CLIP commit the prompt files are pinned to (newest with both files as below). */
export const ECHO_CLIP_COMMIT = '23cd3278b5b62beabc101e07feb461e905ac3180';
export const DEFAULT_ASSETS_BASE_URL = `https://raw.githubusercontent.com/echonet/echo_CLIP/${ECHO_CLIP_COMMIT}`;
/** Environment variable that overrides the base URL (a mirror, or a local server in tests). */
export const ASSETS_BASE_URL_ENV = 'ECHOCLIP_ASSETS_BASE_URL';

export interface PinnedAsset {
  /** File name in the echo_CLIP repository (and in the cache). */
  file: string;
  sha256: string;
  /** The CLI flag and the API option that override the download. */
  flag: string;
  option: string;
}

export const PROMPTS_ASSET: PinnedAsset = {
  file: 'prompts_used.json',
  sha256: '21a6cee0a1edab5eed316aa6029a53bb46ab3f6e2a95ad3791c9834a9f07e485',
  flag: '--prompts',
  option: 'prompts',
};

export const TEMPLATE_VOCAB_ASSET: PinnedAsset = {
  file: 'template_vocab.txt',
  sha256: '44b66106ad1193e52cb3dfa0ff13094d3bc55c9d9d9f0c37d032e600bbaaaae0',
  flag: '--template-vocab',
  option: 'templateVocab',
};

export const BPE_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
export const BPE_VOCAB_SHA256 = '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a';

/** The asset base URL: the explicit option, else $ECHOCLIP_ASSETS_BASE_URL, else echo_CLIP on GitHub. */
export function assetsBaseUrl(explicit?: string): string {
  return (explicit ?? envVar(ASSETS_BASE_URL_ENV) ?? DEFAULT_ASSETS_BASE_URL).replace(/\/+$/, '');
}

export function assetUrl(asset: PinnedAsset, baseUrl?: string): string {
  return `${assetsBaseUrl(baseUrl)}/${asset.file}`;
}

/**
 * The shipped vocabulary as bundlers see it: `assets/` two levels above this module, which holds
 * for the sources (src/api/), the browser bundle (dist/browser/) and the demo (dist/web/). Vite,
 * webpack and Parcel copy the file and rewrite this URL.
 */
export function shippedVocabUrl(): URL {
  return new URL('../../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url);
}

/**
 * Where the shipped vocabulary may be on disk (Node, Deno): beside the sources or the browser
 * bundle (above), or one level up from dist/*.js, the Node/Deno build.
 */
export function shippedVocabCandidates(): URL[] {
  return [shippedVocabUrl(), new URL('../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url)];
}

/** Lower-case hex sha256 (WebCrypto: Node ≥ 20, Deno, secure browser contexts). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throws the typed checksum error unless `bytes` are the pinned file. */
export async function checkPinned(asset: PinnedAsset, bytes: Uint8Array, source: string): Promise<void> {
  const got = await sha256Hex(bytes);
  if (got !== asset.sha256) {
    throw new DownloadError(`${asset.file} from ${source}`, `sha256 checksum mismatch: expected ${asset.sha256}, got ${got}`, {
      hint: `the file was discarded; check ${ASSETS_BASE_URL_ENV} / the base URL, or pass ${asset.flag} (CLI) or { ${asset.option} } (API) with a local copy`,
    });
  }
}

/** What to do when a pinned file cannot be fetched. */
export function offlineHint(asset: PinnedAsset): string {
  return `offline? pass ${asset.flag} (CLI) or { ${asset.option} } (API) with a local copy, or point ${ASSETS_BASE_URL_ENV} / { assetsBaseUrl } at a mirror`;
}
