// The full-size EchoCLIP against PyTorch computed on this machine: seeded synthetic weights in the
// published layout are written as safetensors, PyTorch (bench/peers/torch_clip.py, CUDA when the
// machine has it, else CPU, f32 with TF32 off) and our model read the same file, and both
// encode the same frames and token rows. Part of `echoclip selfcheck`.
import type { Gpu } from '../gpu/device.js';
import { syntheticWeights } from '../bench/synthetic.js';
import { benchPixels } from '../bench/peers/tower-cases.js';
import { featureError, probePytorch, writeModelFiles, type FeatureOutputs, type ModelFiles, type PytorchPeer } from '../bench/peers/pytorch.js';
import { EchoClipModel } from '../models/clip.js';
import { ECHOCLIP_CONFIG, type ClipConfig } from '../models/config.js';
import type { WeightDType } from '../models/parameters.js';
import type { CheckResult, SkippedCheck } from './types.js';

/** Towers: 36 (image) / 12 (text) f32 blocks in different op orders (as the bench's tower check). */
export const TOWER_RTOL = 2e-3;
/**
 * f16 weights: PyTorch reads the same f16-rounded values (the file is written in F16) and computes
 * in f32, so only where our f16 path rounds (5.8e-4 relative measured on lavapipe, 1 frame +
 * 2 prompts, vs 1.5e-6 with f32 weights) differs; 5e-3 leaves ~9× headroom.
 */
export const TOWER_RTOL_F16 = 5e-3;

/**
 * open_clip `tokenize` ids of three EchoCLIP prompts (from the tokenizer goldens), so the text
 * check sees real prompt lengths and EOT positions without a vocabulary file on the machine.
 */
const PROMPT_IDS: readonly number[][] = [
  [49406, 518, 1823, 1240, 9511, 4927, 29771, 740, 26788, 533, 16665, 531, 655, 276, 276, 260, 49407], // THE LEFT VENTRICULAR EJECTION FRACTION IS ESTIMATED TO BE 55%
  [49406, 37143, 3282, 1110, 3212, 2066, 7860, 16439, 593, 17951, 40600, 4836, 269, 49407], // PARADOXICAL SEPTAL MOTION CONSISTENT WITH RV PACEMAKER.
  [49406, 11184, 29771, 740, 26788, 533, 276, 276, 12475, 49407], // LV EJECTION FRACTION IS 55%.
];

export function promptRows(n: number, L: number): Int32Array {
  const ids = new Int32Array(n * L);
  for (let r = 0; r < n; r++) ids.set(PROMPT_IDS[r % PROMPT_IDS.length].slice(0, L), r * L);
  return ids;
}

export interface PytorchCheckOptions {
  /** performance.now() timestamp by which the checks must be done. */
  deadline: number;
  log: (line: string) => void;
  /** Frames and prompt rows to encode (default 2 and 3). */
  frames?: number;
  prompts?: number;
  /** Weight dtypes to check (default f32, plus f16 where the adapter has shader-f16). */
  dtypes?: WeightDType[];
  config?: ClipConfig;
}

// Rough seconds per item on a software adapter (lavapipe, 2 cores): image tower ~10 s per frame,
// text ~1 s per prompt, plus ~20 s for load, weights file and the PyTorch process. A real GPU
// needs a fraction of that; the estimate only decides whether to start a dtype.
function estimateS(gpu: Gpu, frames: number, prompts: number): number {
  return gpu.adapter.fallback ? 20 + 10 * frames + prompts : 15;
}

export async function pytorchChecks(gpu: Gpu, opts: PytorchCheckOptions): Promise<{ checks: CheckResult[]; skipped: SkippedCheck[] }> {
  const checks: CheckResult[] = [];
  const skipped: SkippedCheck[] = [];
  const config = opts.config ?? (ECHOCLIP_CONFIG as ClipConfig);
  const frames = opts.frames ?? 2, nPrompts = opts.prompts ?? 3;
  const dtypes = opts.dtypes ?? (gpu.f16 ? ['f32', 'f16'] : ['f32']);
  const left = () => (opts.deadline - performance.now()) / 1000;
  const probe = await probePytorch({ timeoutMs: Math.max(5_000, Math.min(60_000, left() * 1000)) });
  if (!probe.peer) {
    skipped.push({ what: 'full-size EchoCLIP vs PyTorch', why: probe.reason });
    return { checks, skipped };
  }
  const peer = probe.peer;
  opts.log(`pytorch: ${peer.info.executable}: torch ${peer.info.torch}, ${peer.info.cuda ? `CUDA ${peer.info.cuda_version} on ${peer.info.device_name}` : 'CPU'}, timm ${peer.info.timm ?? 'absent (plain torch.nn ConvNeXt)'}`);
  const S = config.vision.imageSize, L = config.text.contextLength;
  const pixels = benchPixels(frames, S);
  const ids = promptRows(nPrompts, L);
  const source = syntheticWeights(config, 13);
  for (const dtype of dtypes) {
    const label = `full-size EchoCLIP, ${dtype} weights`;
    if (left() < estimateS(gpu, frames, nPrompts)) {
      skipped.push({ what: `${label} vs PyTorch`, why: `time budget: ${Math.max(0, left()).toFixed(0)} s left, ~${estimateS(gpu, frames, nPrompts)} s needed` });
      continue;
    }
    let files: (ModelFiles & { release(): Promise<void> }) | null = null;
    const t0 = performance.now();
    try {
      files = await writeModelFiles(source, config, dtype === 'f16' ? 'F16' : 'F32');
      const theirs = await peer.features(files, { pixels, ids }, config, { timeoutMs: Math.max(10_000, left() * 1000) });
      checks.push(...(await compare(gpu, peer, theirs, { source, config, dtype, pixels, ids, frames, nPrompts, t0 })));
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      for (const tower of ['image', 'text'] as const) {
        checks.push({ group: 'pytorch', name: `echoclip.${tower}_features`, variant: `${dtype} weights`, dtype, shape: tower === 'image' ? `${frames}x3x${S}x${S}` : `${nPrompts}x${L}`, profile: gpu.kernelProfile, maxAbsErr: Infinity, tol: dtype === 'f16' ? TOWER_RTOL_F16 : TOWER_RTOL, tolKind: 'rel', pass: false, ms: performance.now() - t0, error });
      }
      opts.log(`pytorch: ${label}: ${error}`);
    } finally {
      await files?.release();
    }
    for (const c of checks.slice(-2)) opts.log(`pytorch: ${c.name} (${c.variant}) max abs ${c.maxAbsErr.toExponential(2)}, rel ${c.maxRelErr?.toExponential(2) ?? '-'} (tol ${c.tol}) ${c.pass ? 'ok' : 'FAIL'}`);
  }
  return { checks, skipped };
}

async function compare(gpu: Gpu, peer: PytorchPeer, theirs: FeatureOutputs, a: { source: ReturnType<typeof syntheticWeights>; config: ClipConfig; dtype: WeightDType; pixels: Float32Array; ids: Int32Array; frames: number; nPrompts: number; t0: number }): Promise<CheckResult[]> {
  // What a user's load gets (the tuning cache's picks), without searching inside the budget.
  const model = await EchoClipModel.load(gpu, a.source, a.config, { dtype: a.dtype, tune: 'cached' });
  try {
    const S = a.config.vision.imageSize, L = a.config.text.contextLength;
    const ours = { image: await model.encodeImages(a.pixels), text: await model.encodeTexts(a.ids) };
    const ms = performance.now() - a.t0;
    const tol = a.dtype === 'f16' ? TOWER_RTOL_F16 : TOWER_RTOL;
    const where = `PyTorch ${peer.info.torch} on ${theirs.device} (${theirs.backend})`;
    return (['image', 'text'] as const).map((tower) => {
      const e = featureError(ours[tower], theirs[tower]);
      return {
        group: 'pytorch', name: `echoclip.${tower}_features`, variant: `${a.dtype} weights vs ${where}`, dtype: a.dtype,
        shape: tower === 'image' ? `${a.frames}x3x${S}x${S}->${a.config.embedDim}` : `${a.nPrompts}x${L}->${a.config.embedDim}`,
        profile: gpu.kernelProfile, maxAbsErr: e.maxAbs, maxRelErr: e.maxRel, tol, tolKind: 'rel', pass: e.maxRel <= tol, ms,
      } satisfies CheckResult;
    });
  } finally {
    model.release();
  }
}
