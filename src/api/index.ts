// The one-line API and the file-resolution rules it shares with the CLI.
export {
  EchoClip, PRETRAINED, type DecodedFrames, type EchoClipOptions, type Embeddings, type PreparedVideo, type PreprocessedFrames,
  type PretrainedName, type EchoClipProgress, type PromptEmbeddings, type SearchHit, type SearchOptions, type VideoEmbeddings,
  type VideoInput, type VideoOptions, type WeightsFiles, type ZeroShotOptions,
} from './echoclip.js';
export {
  ASSETS_BASE_URL_ENV, BPE_VOCAB_FILE, BPE_VOCAB_SHA256, DEFAULT_ASSETS_BASE_URL, ECHO_CLIP_COMMIT, PROMPTS_ASSET, TEMPLATE_VOCAB_ASSET,
  assetsBaseUrl, shippedVocabUrl, type PinnedAsset,
} from './assets.js';
export type { AssetOptions, DownloadEvent } from './platform.js';
export { tokenizerForModel, type DataInput, type Provenance, type TextTokenizer, type TokenizerKind } from './resolve.js';
