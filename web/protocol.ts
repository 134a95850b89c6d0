// Messages between the page (main thread: UI only) and the worker (all GPU and CPU work).
import type { ZeroShotResult } from '../src/tasks/index.js';

/** Where a file comes from: a URL (fetched) or a user-picked File. */
export type Source = { url: string } | { file: File };

export interface RunRequest {
  type: 'run';
  /** What EchoClip.fromPretrained gets: 'echo-clip', 'hf-hub:owner/name' or a weights directory URL. */
  model: string;
  /** Hub base URL for hf-hub ids (files cached in OPFS). */
  hubUrl?: string;
  /** Local files instead of `model`: the config and the weights. */
  files?: { config: File; weights: File };
  /** Base URL of echo_CLIP's pinned prompts_used.json (empty: GitHub at the pinned commit; cached in OPFS). */
  assetsBaseUrl?: string;
  /** Optional overrides; by default the vocabulary ships with the library and the prompts are downloaded. */
  vocab?: Source;
  prompts?: Source;
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
