// Model checks against the PyTorch goldens in the fixture directory (the full fixtures or the small
// pack scripts/selfcheck-pack.mjs writes, same layout): the tiny EchoCLIP and EchoCLIP-R forward
// (embeddings, logits, loss) and one training step of the tiny EchoCLIP (loss, a gradient of every
// op family, the loss after one AdamW step). On a software adapter they run under both kernel
// profiles, so the real-GPU kernels are checked composed, not only one by one. Node only (files).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AdamW } from '../autograd/adamw.js';
import { UsageError, WeightsFormatError } from '../errors.js';
import { Tape } from '../autograd/tape.js';
import type { Gpu, KernelProfile } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { parseSafetensors } from '../io/safetensors.js';
import { openWeights } from '../io/weights-node.js';
import { clipLoss, contrastiveLogits } from '../kernels/contrastive.js';
import { l2Normalize } from '../kernels/pooling.js';
import { EchoClipModel } from '../models/clip.js';
import { TrainableClip } from '../models/train.js';
import SPEC from './fixture-spec.json' with { type: 'json' };
import { measure, releaseAll, withProfile, type Compared, type Plan } from './harness.js';
import type { SkippedCheck } from './types.js';

export { SPEC as FIXTURE_SPEC };

export interface FixtureDir {
  dir: string;
}

interface ToleranceFile {
  tensors?: Record<string, { atol: number }>;
  groups?: Record<string, { max_atol: number }>;
}

interface Golden {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** atol of a golden per tolerances.json: the tensor's own entry, else the longest matching group. */
export function toleranceFor(tol: ToleranceFile, file: string, tensor: string): number {
  const stem = file.replace(/\.safetensors$/, '');
  const own = tol.tensors?.[`${stem}.safetensors:${tensor}`] ?? tol.tensors?.[`${stem}:${tensor}`];
  if (own) return own.atol;
  const key = `${stem}:${tensor}`;
  let best: { len: number; atol: number } | null = null;
  for (const [g, v] of Object.entries(tol.groups ?? {})) if (key.startsWith(g) && (!best || g.length > best.len)) best = { len: g.length, atol: v.max_atol };
  if (!best) throw new WeightsFormatError('tolerances.json', `has no tolerance for ${key}`, { hint: 'use the full fixtures or a pack written by scripts/selfcheck-pack.mjs' });
  return best.atol;
}

async function loadGoldens(file: string): Promise<Map<string, Golden>> {
  const src = await parseSafetensors(new Uint8Array(await readFile(file)), file);
  const out = new Map<string, Golden>();
  for (const info of src.tensors) {
    const t = await src.read(info.name);
    const data = t.data instanceof Float32Array || t.data instanceof Int32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
    out.set(info.name, { shape: [...t.shape], data });
  }
  return out;
}

function golden(g: Map<string, Golden>, name: string, file: string): Golden {
  const t = g.get(name);
  if (!t) throw new WeightsFormatError(file, `has no golden tensor '${name}'`, { hint: 'use the full fixtures or a pack written by scripts/selfcheck-pack.mjs' });
  return t;
}

/** The profiles the model checks run under: the adapter's own, plus 'gpu' on a software adapter. */
function profiles(gpu: Gpu): KernelProfile[] {
  return gpu.adapter.fallback && gpu.kernelProfile === 'software' ? ['software', 'gpu'] : [gpu.kernelProfile];
}

interface Fixture {
  dir: string;
  tol: ToleranceFile;
}

async function openFixture(f: FixtureDir, needed: string[], what: string): Promise<Fixture | SkippedCheck> {
  const missing = ['tolerances.json', ...needed].filter((n) => !existsSync(path.join(f.dir, n)));
  if (missing.length) return { what, why: `${f.dir} lacks ${missing.join(', ')}` };
  return { dir: f.dir, tol: JSON.parse(await readFile(path.join(f.dir, 'tolerances.json'), 'utf8')) as ToleranceFile };
}

const WEIGHTS = (model: string) => [path.join(model, 'open_clip_config.json'), path.join(model, 'open_clip_model.safetensors')];

/** Forward of both tiny models: encode_image, encode_text, logits and ClipLoss. */
export async function modelChecks(gpu: Gpu, f: FixtureDir): Promise<Plan> {
  const plan: Plan = { checks: [], skipped: [] };
  for (const [file, model] of Object.entries(SPEC.forward)) {
    const fx = await openFixture(f, [file, ...WEIGHTS(model)], `${model} forward`);
    if ('why' in fx) { plan.skipped.push(fx); continue; }
    for (const profile of profiles(gpu)) {
      const meta = { group: 'model' as const, name: model, variant: `profile ${profile}`, dtype: 'f32', shape: '2 images, 8 texts', profile };
      plan.checks.push({ what: `${model} forward (${profile} kernels)`, run: () => measure(meta, () => forward(withProfile(gpu, profile), fx, file, model)) });
    }
  }
  return plan;
}

async function forward(gpu: Gpu, fx: Fixture, file: string, model: string): Promise<Compared[]> {
  const g = await loadGoldens(path.join(fx.dir, file));
  const w = await openWeights(path.join(fx.dir, model));
  let m: EchoClipModel;
  try {
    // The table's profile defaults (deterministic); every variant a tuning cache may pick is kernel-checked.
    m = await EchoClipModel.load(gpu, w.source, w.config, { tune: 'off' });
  } finally {
    await w.source.close();
  }
  const px = golden(g, 'input.pixel_values', file), ids = golden(g, 'input.text_tokens', file);
  const pxT = Tensor.from(gpu, px.data as Float32Array, px.shape), idsT = Tensor.from(gpu, ids.data as Int32Array, ids.shape, 'i32');
  const img = m.encodeImage(pxT);
  const txt = m.encodeText(idsT);
  const imgN = l2Normalize(img), txtN = l2Normalize(txt);
  const { perImage, perText } = contrastiveLogits(imgN, txtN, m.logitScale);
  // open_clip's ClipLoss on the 2 images and the first 2 texts (loss.pair_text_index = [0, 1]).
  const pair = contrastiveLogits(imgN, txtN.slice0(0, 2), m.logitScale);
  const loss = clipLoss(pair.perImage);
  const read = async (t: Tensor) => t.toFloat32();
  const got = { img: await read(img), txt: await read(txt), logits: await read(perImage), loss: await read(loss) };
  releaseAll(pxT, idsT, img, txt, imgN, txtN, perImage, perText, pair.perImage, pair.perText, loss);
  m.release();
  const part = (name: string, values: ArrayLike<number>): Compared => ({ part: `.${name}`, got: values, want: golden(g, name, file).data, tol: toleranceFor(fx.tol, file, name), tolKind: 'abs' });
  return [
    part('out.image_embeds', got.img),
    part('out.text_embeds', got.txt),
    part('out.logit_scale_exp', [Math.exp(m.logitScale)]),
    part('out.logits_per_image', got.logits),
    part('loss.clip_loss', got.loss),
  ];
}

/**
 * One training step of the tiny EchoCLIP: loss, gradients and the loss after one AdamW step (the
 * fixture's optimizer settings), in f32 and, where the adapter has shader-f16, mixed precision
 * (the tolerances the fine-tune test uses for it: loss 2e-3, gradients 2 % of their largest value).
 */
export async function trainChecks(gpu: Gpu, f: FixtureDir): Promise<Plan> {
  const plan: Plan = { checks: [], skipped: [] };
  const { file, weights } = SPEC.finetune;
  const fx = await openFixture(f, [file, ...WEIGHTS(weights)], 'tiny EchoCLIP training step');
  if ('why' in fx) return { checks: [], skipped: [fx] };
  const precisions = gpu.f16 ? (['f32', 'mixed'] as const) : (['f32'] as const);
  if (!gpu.f16) plan.skipped.push({ what: 'training step in mixed f16/f32 precision', why: 'the adapter has no shader-f16' });
  for (const precision of precisions) {
    for (const profile of profiles(gpu)) {
      const meta = { group: 'train' as const, name: 'echoclip_tiny.train_step', variant: `profile ${profile}`, dtype: precision, shape: '4 pairs, AdamW lr 1e-4', profile };
      plan.checks.push({ what: `tiny EchoCLIP training step (${precision}, ${profile} kernels)`, run: () => measure(meta, () => trainStep(withProfile(gpu, profile), fx, precision)) });
    }
  }
  return plan;
}

async function trainStep(gpu: Gpu, fx: Fixture, precision: 'f32' | 'mixed'): Promise<Compared[]> {
  const { file, weights } = SPEC.finetune;
  const g = await loadGoldens(path.join(fx.dir, file));
  const w = await openWeights(path.join(fx.dir, weights));
  let model: TrainableClip;
  try {
    model = await TrainableClip.load(gpu, w.source, w.config);
  } finally {
    await w.source.close();
  }
  const opt = new AdamW(gpu, model.params, { lr: 1e-4, betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.2 });
  const px = golden(g, 'input.pixel_values', file).data as Float32Array, ids = golden(g, 'input.text_tokens', file).data as Int32Array;
  const parts: Compared[] = [];
  const mixed = precision === 'mixed';
  const lossTol = (name: string) => (mixed ? 2e-3 : toleranceFor(fx.tol, file, name));
  try {
    for (const name of ['loss.step0', 'loss.step1']) {
      const tape = new Tape(gpu, precision);
      const { loss } = model.forward(tape, px, ids);
      parts.push({ part: `.${name}`, got: await loss.value.toFloat32(), want: golden(g, name, file).data, tol: lossTol(name), tolKind: 'abs' });
      if (name === 'loss.step0') {
        tape.backward(loss);
        for (const p of SPEC.finetuneGrads) parts.push(gradPart(fx, g, `grad.${p}`, (await model.grad(p))!, mixed));
        parts.push(sparseGradPart(fx, g, (await model.grad(SPEC.sparseGrad))!, mixed));
        opt.update();
        opt.zeroGrad();
      }
      tape.release();
    }
  } finally {
    opt.release();
    model.release();
  }
  return parts;
}

function gradTol(want: ArrayLike<number>, atol: number, mixed: boolean): number {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  return mixed ? Math.max(2e-2 * scale, 2e-5) : atol;
}

function gradPart(fx: Fixture, g: Map<string, Golden>, name: string, got: Float32Array, mixed: boolean): Compared {
  const { file } = SPEC.finetune;
  const want = golden(g, name, file).data;
  return { part: `.${name}`, got, want, tol: gradTol(want, toleranceFor(fx.tol, file, name), mixed), tolKind: 'abs' };
}

/** The token-embedding gradient: the stored rows, exact zeros in every other row. */
function sparseGradPart(fx: Fixture, g: Map<string, Golden>, got: Float32Array, mixed: boolean): Compared {
  const { file } = SPEC.finetune;
  const name = `grad.${SPEC.sparseGrad}`;
  const rows = golden(g, `${name}.sparse_rows`, file).data, vals = golden(g, `${name}.sparse_values`, file).data;
  const D = vals.length / rows.length;
  const want = new Float32Array(got.length);
  rows.forEach((r, i) => want.set(vals.subarray(i * D, (i + 1) * D), r * D));
  return { part: `.${name}`, got, want, tol: gradTol(vals, toleranceFor(fx.tol, file, name), mixed), tolKind: 'abs' };
}

/**
 * The fixture directory: --fixtures, else $ECHOCLIP_FIXTURES, else ../shared/fixtures from the
 * working directory when it exists; otherwise the reason there is none.
 */
export function resolveFixtures(flag: string | undefined, env: string | undefined, cwd: string): FixtureDir | { missing: string } {
  const chosen = flag ?? env;
  if (flag && !existsSync(flag)) throw new UsageError('echoclip selfcheck', `--fixtures ${flag} does not exist`, { hint: 'the fixture directory or a pack from scripts/selfcheck-pack.mjs' });
  if (chosen) return existsSync(chosen) ? { dir: path.resolve(chosen) } : { missing: `$ECHOCLIP_FIXTURES (${chosen}) does not exist` };
  const guess = path.resolve(cwd, '../shared/fixtures');
  return existsSync(guess) ? { dir: guess } : { missing: 'no --fixtures, no $ECHOCLIP_FIXTURES and no ../shared/fixtures' };
}
