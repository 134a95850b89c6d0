// Messages between the page (main thread: UI only) and the worker (all GPU and CPU work).
import type { ZeroShotResult } from '../src/tasks/index.js';

/** Where a file comes from: a URL (fetched; hub files are cached in OPFS) or a user-picked File. */
export type Source = { url: string; cacheKey?: string } | { file: File };

export interface RunRequest {
  type: 'run';
  config: Source;
  weights: Source;
  /** CLIP BPE: bpe_simple_vocab_16e6.txt.gz, or vocab.json + merges.txt. */
  vocab: Source | { vocabJson: Source; merges: Source };
  prompts: Source;
  /** Encoded video (AVI/MJPEG or DICOM)… */
  video?: Source;
  /** …or frames the browser decoded (<video> + canvas), as 3-byte BGR pixels. */
  frames?: { width: number; height: number; data: Uint8Array[] };
  frameSpec: string;
  dtype: 'f32' | 'f16';
  /** Prompt for the Grad-CAM overlay on the first selected frame (empty: the first binary task's first prompt). */
  camPrompt: string;
}

export type WorkerMessage =
  | { type: 'status'; text: string }
  | { type: 'progress'; stage: string; done: number; total: number }
  | { type: 'adapter'; description: string; f16: boolean }
  | { type: 'frames'; count: number; width: number; height: number; preview: Uint8Array }
  | { type: 'result'; results: Record<string, ZeroShotResult>; perFrame: Record<string, number[]>; frameIndices: number[]; ms: number }
  | { type: 'cam'; prompt: string; cam: Float32Array; height: number; width: number; frameIndex: number }
  | { type: 'error'; name: string; message: string };
