// The demo's worker: everything runs here through the one-line API (EchoClip), so the page's main
// thread only paints. Only the weights and a video are needed: the vocabulary ships with the
// library, echo_CLIP's prompt set is downloaded once (pinned, sha256-checked) and kept in OPFS.
import { EchoClip, type EchoClipOptions, type VideoInput } from '../src/api/echoclip.js';
import { UsageError } from '../src/errors.js';
import { perFrameSimilarities } from '../src/tasks/index.js';
import { IMAGE_SIZE } from '../src/video/preprocess.js';
import type { RunRequest, Source, WorkerMessage } from './protocol.js';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

const input = (s: Source): string | File => ('file' in s ? s.file : s.url);

async function run(req: RunRequest): Promise<void> {
  const t0 = performance.now();
  post({ type: 'status', text: 'loading the model' });
  const options: EchoClipOptions = {
    dtype: req.dtype,
    hubUrl: req.hubUrl,
    assetsBaseUrl: req.assetsBaseUrl || undefined,
    weights: req.files ? { config: req.files.config, weights: req.files.weights } : undefined,
    vocab: req.vocab && input(req.vocab),
    prompts: req.prompts && input(req.prompts),
    onProgress: (e) => post({ type: 'progress', stage: e.stage === 'download' ? `download ${e.file}` : e.stage, done: e.done, total: e.total ?? e.done }),
  };
  const echo = await EchoClip.fromPretrained(req.model, options);
  try {
    post({ type: 'adapter', description: echo.gpu.adapter.description, f16: echo.gpu.f16 });
    post({ type: 'status', text: 'zero-shot: prompts, video, both towers' });
    if (!req.video && !req.frames) throw new UsageError('video', 'none given', { hint: 'drop a video or pick one' });
    const video: VideoInput = req.video ? input(req.video) : { width: req.frames!.width, height: req.frames!.height, frames: req.frames!.data };
    const r = await echo.zeroShotDetailed(video, { frames: req.frameSpec, tasks: 'all' });
    post({ type: 'frames', count: r.video.indices.length, width: IMAGE_SIZE, height: IMAGE_SIZE, preview: r.video.frames[0]!.slice() });

    // Per-frame similarity (mean over each binary task's prompts) for the plot.
    const D = echo.config.embedDim;
    const T = r.frames.shape[0];
    const row = new Map(r.texts.map((t, i) => [t, i]));
    const perFrame: Record<string, number[]> = {};
    for (const task of r.tasks.filter((t) => t.mode === 'binary')) {
      const rows = task.prompts.map((p) => row.get(p)!);
      const P = new Float32Array(rows.length * D);
      rows.forEach((ri, j) => P.set(r.prompts.embeddings.subarray(ri * D, (ri + 1) * D), j * D));
      const s = perFrameSimilarities({ data: r.frames.embeddings, shape: r.frames.shape }, { data: P, shape: [rows.length, D] });
      perFrame[task.name] = Array.from({ length: T }, (_, t) => {
        let m = 0;
        for (let c = 0; c < rows.length; c++) m += s.data[t * rows.length + c]!;
        return m / rows.length;
      });
    }
    post({ type: 'result', results: r.results, perFrame, frameIndices: r.video.indices, ms: performance.now() - t0 });

    // PromptCAM: the gradient of the prompt similarity at the last ConvNeXt stage, first frame.
    post({ type: 'status', text: 'Grad-CAM: gradient of the prompt similarity at the last ConvNeXt stage' });
    const camPrompt = req.camPrompt.trim() || r.tasks.find((t) => t.mode === 'binary')!.prompts[0]!;
    const S = echo.config.vision.imageSize;
    const cam = await echo.gradCam({ pixelValues: r.video.pixelValues.subarray(0, 3 * S * S) }, camPrompt);
    post({ type: 'cam', prompt: camPrompt, cam: cam.cam, height: cam.height, width: cam.width, frameIndex: r.video.indices[0]! }, [cam.cam.buffer]);
  } finally {
    echo.dispose();
  }
}

self.onmessage = (e: MessageEvent<RunRequest>) => {
  if (e.data?.type !== 'run') return;
  run(e.data).catch((err: unknown) => post({ type: 'error', name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) }));
};
