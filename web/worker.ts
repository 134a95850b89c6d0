// The demo's worker: device, weights, tokenizer, video decode + preprocessing, both towers and the
// zero-shot tasks all run here, so the page's main thread only paints.
import { requestDevice } from '../src/gpu/device.js';
import { blobByteSource } from '../src/io/source.js';
import { openTensorSource } from '../src/io/weights.js';
import { EchoClipModel } from '../src/models/clip.js';
import { gradCam } from '../src/models/gradcam.js';
import { TrainableClip } from '../src/models/train.js';
import { parseOpenClipConfig } from '../src/models/config.js';
import { collectPrompts, parsePromptSets, perFrameSimilarities, runZeroShotTasks } from '../src/tasks/index.js';
import { l2NormalizeRows } from '../src/tasks/array.js';
import { ClipBpeTokenizer } from '../src/tokenizer/index.js';
import { normalizeFrames, cropAndScale, IMAGE_SIZE } from '../src/video/preprocess.js';
import { preprocessVideo } from '../src/video/video.js';
import { selectFrames } from '../src/video/frames.js';
import type { RunRequest, Source, WorkerMessage } from './protocol.js';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

/** Bytes of a URL, streamed with progress; `cacheKey` files persist in the Origin Private File System. */
async function fetchBlob(url: string, label: string, cacheKey?: string): Promise<Blob> {
  const dir = cacheKey ? await navigator.storage?.getDirectory?.().catch(() => undefined) : undefined;
  const name = cacheKey?.replace(/[^A-Za-z0-9._-]/g, '_');
  if (dir && name) {
    const cached = await dir.getFileHandle(name).then((h) => h.getFile(), () => undefined);
    if (cached && cached.size > 0) return cached;
  }
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`${label}: HTTP ${res.status} for ${url}`);
  const total = Number(res.headers.get('content-length')) || 0;
  const chunks: Uint8Array[] = [];
  let done = 0;
  const reader = res.body.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    done += r.value.byteLength;
    post({ type: 'progress', stage: `download ${label}`, done, total: total || done });
  }
  const blob = new Blob(chunks as BlobPart[]);
  if (dir && name) {
    // Write under a temporary name and rename: a closed tab never leaves a truncated cache entry.
    try {
      const tmp = await dir.getFileHandle(`${name}.part`, { create: true });
      const w = await tmp.createWritable();
      await w.write(blob);
      await w.close();
      const h = tmp as unknown as { move?: (n: string) => Promise<void> };
      if (h.move) await h.move(name);
    } catch {
      /* no OPFS write access: still usable, just not cached */
    }
  }
  return blob;
}

async function blobOf(s: Source, label: string): Promise<Blob> {
  return 'file' in s ? s.file : fetchBlob(s.url, label, s.cacheKey);
}

async function bytesOf(s: Source, label: string): Promise<Uint8Array> {
  return new Uint8Array(await (await blobOf(s, label)).arrayBuffer());
}

async function run(req: RunRequest): Promise<void> {
  const t0 = performance.now();
  post({ type: 'status', text: 'requesting a WebGPU device' });
  const gpu = await requestDevice();
  post({ type: 'adapter', description: gpu.adapter.description, f16: gpu.f16 });
  try {
    post({ type: 'status', text: 'reading the prompt set and tokenizer' });
    const tasks = parsePromptSets(new TextDecoder().decode(await bytesOf(req.prompts, 'prompts')));
    const tok = 'vocabJson' in req.vocab
      ? ClipBpeTokenizer.fromVocabJsonAndMerges(new TextDecoder().decode(await bytesOf(req.vocab.vocabJson, 'vocab.json')), new TextDecoder().decode(await bytesOf(req.vocab.merges, 'merges.txt')))
      : await ClipBpeTokenizer.fromGzip(await bytesOf(req.vocab, 'vocabulary'));

    post({ type: 'status', text: 'decoding the video' });
    let pixels: Float32Array;
    let indices: number[];
    let previewFrame: Uint8Array;
    if (req.video) {
      const v = preprocessVideo(await bytesOf(req.video, 'video'), { frames: req.frameSpec });
      pixels = v.pixelValues;
      indices = v.indices;
      previewFrame = v.frames[0];
    } else if (req.frames) {
      const { width, height, data } = req.frames;
      indices = selectFrames(req.frameSpec, data.length);
      const scaled = indices.map((i) => cropAndScale({ width, height, data: data[i] }));
      pixels = normalizeFrames(scaled);
      previewFrame = scaled[0];
    } else throw new Error('no video given');
    post({ type: 'frames', count: indices.length, width: IMAGE_SIZE, height: IMAGE_SIZE, preview: previewFrame.slice() });

    post({ type: 'status', text: 'loading weights' });
    const config = parseOpenClipConfig(new TextDecoder().decode(await bytesOf(req.config, 'config')));
    const weightsBlob = 'file' in req.weights ? req.weights.file : await blobOf(req.weights, 'weights');
    const source = await openTensorSource(blobByteSource(weightsBlob));
    const model = await EchoClipModel.load(gpu, source, config, { dtype: req.dtype });
    await source.close();
    const D = model.config.embedDim;
    const L = model.config.text.contextLength;

    post({ type: 'status', text: 'text tower: prompts' });
    const { texts } = collectPrompts(tasks);
    const ids = new Int32Array(texts.length * L);
    tok.tokenize(texts).forEach((r, i) => ids.set(r, i * L));
    const textEmb = l2NormalizeRows({ data: await model.encodeTexts(ids, { onProgress: (done, total) => post({ type: 'progress', stage: 'text tower', done, total }) }), shape: [texts.length, D] });

    post({ type: 'status', text: 'image tower: frames' });
    const T = indices.length;
    const frames = l2NormalizeRows({ data: await model.encodeImages(pixels, { microBatch: 1, onProgress: (done, total) => post({ type: 'progress', stage: 'image tower', done, total }) }), shape: [T, D] });
    const results = runZeroShotTasks(tasks, frames, texts, textEmb);

    // Per-frame similarity (mean over each binary task's prompts) for the plot.
    const row = new Map(texts.map((t, i) => [t, i]));
    const perFrame: Record<string, number[]> = {};
    for (const task of tasks.filter((t) => t.mode === 'binary')) {
      const rows = task.prompts.map((p) => row.get(p)!);
      const P = new Float32Array(rows.length * D);
      rows.forEach((r, j) => P.set(textEmb.data.subarray(r * D, (r + 1) * D), j * D));
      const s = perFrameSimilarities(frames, { data: P, shape: [rows.length, D] });
      perFrame[task.name] = Array.from({ length: T }, (_, t) => {
        let m = 0;
        for (let c = 0; c < rows.length; c++) m += s.data[t * rows.length + c];
        return m / rows.length;
      });
    }
    const camPrompt = req.camPrompt.trim() || tasks.find((t) => t.mode === 'binary')!.prompts[0];
    const camIds = tok.tokenize([camPrompt])[0];
    const camEmb = l2NormalizeRows({ data: await model.encodeTexts(camIds), shape: [1, D] }).data;
    model.release();
    post({ type: 'result', results, perFrame, frameIndices: indices, ms: performance.now() - t0 });

    // PromptCAM needs gradients: a trainable (f32) copy of the image tower, loaded after the
    // inference weights are gone so both never sit in GPU memory together.
    post({ type: 'status', text: 'Grad-CAM: gradient of the prompt similarity at the last ConvNeXt stage' });
    const src2 = await openTensorSource(blobByteSource(weightsBlob));
    const trainable = await TrainableClip.load(gpu, src2, config);
    await src2.close();
    const S = config.vision.imageSize;
    const cam = await gradCam(trainable, pixels.subarray(0, 3 * S * S), camEmb);
    trainable.release();
    post({ type: 'cam', prompt: camPrompt, cam: cam.cam, height: cam.height, width: cam.width, frameIndex: indices[0] }, [cam.cam.buffer]);
  } finally {
    gpu.destroy();
  }
}

self.onmessage = (e: MessageEvent<RunRequest>) => {
  if (e.data?.type !== 'run') return;
  run(e.data).catch((err: unknown) => post({ type: 'error', name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) }));
};
