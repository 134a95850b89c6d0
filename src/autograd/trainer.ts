// The fine-tuning loop, platform-neutral: PAIRS.csv parsing, the deterministic data order, one
// optimisation step, and the trainer state (AdamW moments, step, RNG, data position) as bytes.
// Everything random comes from one Rng whose state is checkpointed, and every GPU kernel is
// deterministic, so a run resumed from a checkpoint continues bit-for-bit.
import { EchoClipError, UsageError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { toFloat32 } from '../io/dtype.js';
import type { HostTensor } from '../io/dtype.js';
import { parseSafetensors, serializeSafetensors } from '../io/safetensors.js';
import type { TrainableClip } from '../models/train.js';
import { AdamW, cosineLr, type AdamWOptions } from './adamw.js';
import { Rng } from './rng.js';
import { Tape, type Precision } from './tape.js';

/** A malformed PAIRS.csv or trainer-state file. */
export class TrainingDataError extends EchoClipError {}

export interface Pair {
  video: string;
  report: string;
}

/**
 * RFC 4180 CSV: comma-separated, fields optionally in double quotes (which may hold commas, CR/LF
 * and "" for a quote), CRLF or LF line ends. The header must name the columns video and report
 * (any order, other columns ignored).
 */
export function parsePairsCsv(text: string, label = 'PAIRS.csv'): Pair[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  let line = 1;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const endField = () => {
    row.push(field);
    field = '';
  };
  while (i < src.length) {
    const c = src[i];
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        if (i < src.length && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') {
          throw new TrainingDataError(label, `line ${line}: unexpected character after a closing quote`, { hint: 'quote the whole field and double any quote inside it ("")' });
        }
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== '') throw new TrainingDataError(label, `line ${line}: a quote inside an unquoted field`, { hint: 'quote the whole field and double any quote inside it ("")' });
      quoted = true;
      i++;
    } else if (c === ',') {
      endField();
      i++;
    } else if (c === '\r' || c === '\n') {
      endField();
      rows.push(row);
      row = [];
      i += c === '\r' && src[i + 1] === '\n' ? 2 : 1;
      line++;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new TrainingDataError(label, 'ends inside a quoted field', { hint: 'close the quote of the last field' });
  if (field !== '' || row.length) {
    endField();
    rows.push(row);
  }
  const nonEmpty = rows.filter((r) => !(r.length === 1 && r[0] === ''));
  if (nonEmpty.length === 0) throw new TrainingDataError(label, 'is empty', { hint: 'the first line must be the header video,report' });
  const header = nonEmpty[0].map((h) => h.trim().toLowerCase());
  const vi = header.indexOf('video');
  const ri = header.indexOf('report');
  if (vi < 0 || ri < 0) throw new TrainingDataError(label, `header must have the columns video and report, got ${JSON.stringify(nonEmpty[0])}`, { hint: 'first line: video,report' });
  const pairs = nonEmpty.slice(1).map((r, k) => {
    if (r.length !== header.length) throw new TrainingDataError(label, `record ${k + 1} has ${r.length} fields, the header has ${header.length}`, { hint: 'quote reports that contain commas or line breaks' });
    if (!r[vi]) throw new TrainingDataError(label, `record ${k + 1} has an empty video path`);
    return { video: r[vi], report: r[ri] };
  });
  if (pairs.length === 0) throw new TrainingDataError(label, 'has a header but no pairs');
  return pairs;
}

export interface TrainerConfig {
  steps: number;
  batch: number;
  lr: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  warmup: number;
  schedule: 'cosine' | 'constant';
  framesPerVideo: number;
  seed: number;
  /** 'mixed' trains with f16 matrix-op weights and activations (see Precision); absent = 'f32'. */
  precision?: Precision;
}

/** Where the data loader is: epoch, position in the epoch's order. */
export interface TrainerPosition {
  step: number;
  rng: number;
  epoch: number;
  cursor: number;
}

/** What the trainer needs from the data: pair count, tokens per pair, a frame loader. */
export interface TrainingData {
  pairs: number;
  /** [pairs, context] token ids. */
  tokens: Int32Array;
  /** Number of usable frames of pair i's video. */
  frameCount(pair: number): Promise<number>;
  /** Preprocessed pixels (3×S×S) of frame `frame` of pair i's video. */
  frame(pair: number, frame: number): Promise<Float32Array>;
}

export interface StepResult {
  step: number;
  loss: number;
  lr: number;
}

const STATE_FORMAT = 'echoclip-trainer-state/1';

function checkConfig(c: TrainerConfig, pairs: number): void {
  const bad = (flag: string, why: string) => new UsageError(`echoclip finetune --${flag}`, why);
  if (!Number.isInteger(c.steps) || c.steps < 1) throw bad('steps', `must be a positive integer, got ${c.steps}`);
  if (!Number.isInteger(c.batch) || c.batch < 2) throw bad('batch', `must be an integer >= 2 (the contrastive loss needs negatives), got ${c.batch}`);
  if (!Number.isInteger(c.framesPerVideo) || c.framesPerVideo < 1) throw bad('frames-per-video', `must be a positive integer, got ${c.framesPerVideo}`);
  if (c.batch > pairs * c.framesPerVideo) throw bad('batch', `${c.batch} exceeds the ${pairs * c.framesPerVideo} samples per epoch (${pairs} pairs × ${c.framesPerVideo} frames)`);
  if (!Number.isInteger(c.warmup) || c.warmup < 0) throw bad('warmup', `must be a non-negative integer, got ${c.warmup}`);
  if (!Number.isInteger(c.seed) || c.seed < 0 || c.seed > 0xffffffff) throw bad('seed', `must be an integer in [0, 2^32), got ${c.seed}`);
}

export class Trainer {
  readonly opt: AdamW;
  private rng: Rng;
  position: TrainerPosition;

  constructor(
    readonly model: TrainableClip,
    readonly data: TrainingData,
    readonly config: TrainerConfig,
  ) {
    checkConfig(config, data.pairs);
    if (config.precision === 'mixed' && !model.gpu.f16) throw new UsageError('echoclip finetune --precision', 'mixed needs shader-f16, which this adapter lacks', { hint: 'use --precision f32 here' });
    const adam: AdamWOptions = { lr: config.lr, betas: config.betas, eps: config.eps, weightDecay: config.weightDecay };
    this.opt = new AdamW(model.gpu, model.params, adam);
    this.rng = new Rng(config.seed);
    this.position = { step: 0, rng: this.rng.state, epoch: 0, cursor: 0 };
  }

  get done(): boolean {
    return this.position.step >= this.config.steps;
  }

  lrAt(step: number): number {
    const c = this.config;
    return c.schedule === 'cosine' ? cosineLr(step, c.lr, c.warmup, c.steps) : step < c.warmup ? (c.lr * (step + 1)) / c.warmup : c.lr;
  }

  /** Sample order of an epoch: a permutation of pairs × frames-per-video, seeded by (seed, epoch). */
  private order(epoch: number): number[] {
    return new Rng((this.config.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).permutation(this.data.pairs * this.config.framesPerVideo);
  }

  /** The pair indices of the next batch (advances the data position). */
  private nextBatch(): number[] {
    const out: number[] = [];
    let order = this.order(this.position.epoch);
    while (out.length < this.config.batch) {
      if (this.position.cursor >= order.length) {
        this.position.epoch++;
        this.position.cursor = 0;
        order = this.order(this.position.epoch);
      }
      out.push(order[this.position.cursor++] % this.data.pairs);
    }
    return out;
  }

  /** One optimisation step on the next batch. */
  async step(): Promise<StepResult> {
    if (this.done) throw new UsageError('echoclip finetune', `all ${this.config.steps} steps are done`);
    const batch = this.nextBatch();
    const S = this.model.config.vision.imageSize;
    const L = this.model.config.text.contextLength;
    const per = 3 * S * S;
    const pixels = new Float32Array(batch.length * per);
    const ids = new Int32Array(batch.length * L);
    for (const [k, pair] of batch.entries()) {
      const f = this.rng.int(await this.data.frameCount(pair));
      pixels.set(await this.data.frame(pair, f), k * per);
      ids.set(this.data.tokens.subarray(pair * L, (pair + 1) * L), k * L);
    }
    const lr = this.lrAt(this.position.step);
    const tape = new Tape(this.model.gpu, this.config.precision ?? 'f32');
    let loss: number;
    try {
      const out = this.model.forward(tape, pixels, ids, { rng: this.rng });
      tape.backward(out.loss);
      this.opt.update(lr);
      this.opt.zeroGrad();
      loss = (await out.loss.value.toFloat32())[0];
    } finally {
      tape.release();
    }
    if (!Number.isFinite(loss)) throw new EchoClipError('training', `the loss became ${loss} at step ${this.position.step}`, { hint: 'lower --lr or add --warmup steps' });
    this.position.step++;
    this.position.rng = this.rng.state;
    return { step: this.position.step, loss, lr };
  }

  /** Trainer state (moments in the kernels' layout, position and config in the metadata) as safetensors bytes. */
  async serializeState(dataKey: string): Promise<Uint8Array> {
    const tensors: [string, HostTensor][] = [];
    for (const p of this.model.params) {
      for (const [kind, map] of [['m', this.opt.m], ['v', this.opt.v]] as const) {
        const t = map.get(p.name);
        if (t) tensors.push([`adamw.${kind}.${p.name}`, { dtype: 'F32', shape: [...t.shape], data: await t.toFloat32() }]);
      }
    }
    const { steps: _s, ...fixed } = this.config;
    return serializeSafetensors(tensors, {
      format: STATE_FORMAT,
      position: JSON.stringify(this.position),
      adamw_step: String(this.opt.step),
      config: JSON.stringify(fixed),
      data: dataKey,
    });
  }

  /** Restores a state written by serializeState (same data, batch, seed and frames per video). */
  async restoreState(bytes: Uint8Array, dataKey: string, label = 'trainer_state.safetensors'): Promise<void> {
    const src = await parseSafetensors(bytes, label);
    const meta = src.metadata;
    if (meta.format !== STATE_FORMAT) throw new TrainingDataError(label, `is not a trainer state (format ${JSON.stringify(meta.format)})`, { hint: 'resume from a directory written by echoclip finetune' });
    const { steps: _s, ...fixed } = this.config;
    if (meta.config !== JSON.stringify(fixed) || meta.data !== dataKey) {
      throw new UsageError('echoclip finetune --resume', `the checkpoint was written with other settings or data (${meta.config}, data ${meta.data})`, { hint: 'resume with the same PAIRS.csv and flags (only --steps may change)' });
    }
    let position: TrainerPosition;
    try {
      position = JSON.parse(meta.position) as TrainerPosition;
    } catch {
      throw new TrainingDataError(label, 'has an unreadable position record');
    }
    for (const k of ['step', 'rng', 'epoch', 'cursor'] as const) {
      if (!Number.isInteger(position[k]) || position[k] < 0) throw new TrainingDataError(label, `position.${k} must be a non-negative integer, got ${String(position[k])}`);
    }
    const adamStep = Number(meta.adamw_step);
    if (!Number.isInteger(adamStep) || adamStep < 0) throw new TrainingDataError(label, `adamw_step must be a non-negative integer, got ${meta.adamw_step}`);
    this.opt.release();
    for (const p of this.model.params) {
      for (const [kind, map] of [['m', this.opt.m], ['v', this.opt.v]] as const) {
        const name = `adamw.${kind}.${p.name}`;
        if (!src.get(name)) continue;
        const t = await src.read(name);
        if (t.shape.length !== p.value.shape.length || t.shape.some((d, i) => d !== p.value.shape[i])) {
          throw new TrainingDataError(label, `${name} is [${t.shape.join(', ')}], the parameter is [${p.value.shape.join(', ')}]`);
        }
        map.set(p.name, Tensor.from(this.model.gpu, toFloat32(t, name), p.value.shape, 'f32', name));
      }
    }
    this.opt.step = adamStep;
    this.position = position;
    this.rng.state = position.rng;
  }

  release(): void {
    this.opt.release();
  }
}
