// The PyTorch peer (bench/peers/torch_clip.py) driven from Node: find a python3 that imports torch,
// write a model (any TensorSource, e.g. the seeded synthetic weights) as open_clip safetensors +
// open_clip_config.json, and run the script's `features` / `bench` modes. Node-only (child
// processes, files); never part of the browser bundle.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EchoClipError } from '../../errors.js';
import { convertFloat } from '../../io/dtype.js';
import { parseSafetensors, serializeSafetensors, writeSafetensors } from '../../io/safetensors.js';
import type { TensorSource } from '../../io/source.js';
import { toOpenClipConfigJson, type ClipConfig } from '../../models/config.js';
import { maxErrors } from '../../selfcheck/harness.js';

/** The Python side failed: not found, crashed, timed out, or answered something unreadable. */
export class PytorchPeerError extends EchoClipError {
  override readonly code = 'pytorch-peer';
}

export const TORCH_SCRIPT = 'torch_clip.py';

/** What `torch_clip.py probe` reports. */
export interface TorchInfo {
  /** The interpreter that imported torch. */
  executable: string;
  python: string;
  torch: string;
  numpy: string;
  timm: string | null;
  cuda: boolean;
  cuda_version: string | null;
  device_name: string;
  /** `nvidia-smi` driver version and card name, where the tool exists. */
  nvidia_driver: string | null;
  compile: boolean;
  threads: number;
}

export type PytorchProbe = { peer: PytorchPeer; reason: null } | { peer: null; reason: string };

/**
 * The folder holding torch_clip.py: $ECHOCLIP_PY_DIR, else the first `peers/` (built dist/) or
 * `bench/peers/` (repo checkout) found walking up from this module.
 */
export function findTorchScript(from: string = path.dirname(fileURLToPath(import.meta.url))): string | null {
  const env = process.env.ECHOCLIP_PY_DIR;
  if (env) return existsSync(path.join(env, TORCH_SCRIPT)) ? path.join(env, TORCH_SCRIPT) : null;
  for (let dir = from; ; dir = path.dirname(dir)) {
    for (const sub of ['peers', 'bench/peers']) {
      const p = path.join(dir, sub, TORCH_SCRIPT);
      if (existsSync(p)) return p;
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** Interpreters to try, in order: $ECHOCLIP_PYTHON, python3 on PATH, Debian's /usr/bin/python3. */
export function pythonCandidates(): string[] {
  const env = process.env.ECHOCLIP_PYTHON;
  return [...new Set([...(env ? [env] : []), 'python3', '/usr/bin/python3'])];
}

interface RunResult {
  json: Record<string, unknown> | null;
  code: number | null;
  stderr: string;
  timedOut: boolean;
  spawnError: string | null;
}

function runPython(python: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(python, args, { timeout: Math.max(1, Math.round(timeoutMs)), maxBuffer: 64 << 20, env: { ...process.env, PYTHONUNBUFFERED: '1' } }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let json: Record<string, unknown> | null = null;
      try {
        json = line ? (JSON.parse(line) as Record<string, unknown>) : null;
      } catch {
        json = null;
      }
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string }) | null;
      const spawnError = e && typeof e.code === 'string' ? `${e.code}: ${e.message.split('\n')[0]}` : null;
      resolve({ json, code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stderr: String(stderr), timedOut: !!e?.killed, spawnError });
    });
  });
}

function failure(r: RunResult, timeoutMs: number): string {
  if (r.spawnError) return r.spawnError;
  if (r.timedOut) return `no answer within ${(timeoutMs / 1000).toFixed(0)} s`;
  if (r.json && typeof r.json.error === 'string') return r.json.error;
  const tail = r.stderr.trim().split('\n').slice(-2).join(' | ');
  return `exit ${r.code}${tail ? `: ${tail.slice(0, 400)}` : ''}`;
}

/**
 * Finds the first interpreter that imports torch (and numpy) and runs the script's probe. Null
 * with every candidate's reason when none does, or when ECHOCLIP_PYTHON=none turns the peer off.
 */
export async function probePytorch(opts: { candidates?: string[]; timeoutMs?: number; script?: string | null } = {}): Promise<PytorchProbe> {
  if (process.env.ECHOCLIP_PYTHON === 'none') return { peer: null, reason: 'ECHOCLIP_PYTHON=none turns the PyTorch peer off' };
  const script = opts.script === undefined ? findTorchScript() : opts.script;
  if (!script) return { peer: null, reason: `${TORCH_SCRIPT} not found (looked in $ECHOCLIP_PY_DIR, then peers/ and bench/peers/ above ${path.dirname(fileURLToPath(import.meta.url))})` };
  const timeoutMs = opts.timeoutMs ?? 60_000; // importing torch cold takes seconds on a loaded machine
  const reasons: string[] = [];
  for (const python of opts.candidates ?? pythonCandidates()) {
    const r = await runPython(python, [script, 'probe'], timeoutMs);
    if (r.code === 0 && r.json?.ok === true) return { peer: new PytorchPeer(python, script, { ...(r.json as unknown as TorchInfo), executable: python }), reason: null };
    reasons.push(`${python}: ${failure(r, timeoutMs)}`);
  }
  return { peer: null, reason: `no python3 with torch: ${reasons.join('; ')}` };
}

/** A model as the script reads it: the weights file and its open_clip_config.json. */
export interface ModelFiles {
  weights: string;
  config: string;
  dir: string;
}

/**
 * Writes `source` as safetensors (F32, or F16 to check our f16-weight path against PyTorch on the
 * same rounded values) plus the config, into a fresh temporary folder. `release()` deletes it.
 */
export async function writeModelFiles(source: TensorSource, config: ClipConfig, dtype: 'F32' | 'F16' = 'F32'): Promise<ModelFiles & { release(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'echoclip-torch-'));
  const weights = path.join(dir, 'open_clip_model.safetensors');
  const fh = await open(weights, 'w');
  try {
    const tensors = source.tensors.map((t) => ({ name: t.name, dtype: t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' ? dtype : t.dtype, shape: t.shape }));
    await writeSafetensors(tensors, async (name) => {
      const t = await source.read(name);
      return t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' ? convertFloat(t, dtype, name).data : t.data;
    }, async (chunk) => void (await fh.write(chunk)));
  } finally {
    await fh.close();
  }
  const cfg = path.join(dir, 'open_clip_config.json');
  await writeFile(cfg, toOpenClipConfigJson(config));
  return { weights, config: cfg, dir, release: () => rm(dir, { recursive: true, force: true }) };
}

export interface FeatureInputs {
  /** [N, 3, S, S] normalised pixels. */
  pixels?: Float32Array;
  /** [N, context] token ids. */
  ids?: Int32Array;
}

export interface FeatureOutputs {
  image?: Float32Array;
  text?: Float32Array;
  /** 'timm 0.9.5' or 'torch.nn (timm not importable)'. */
  backend: string;
  device: string;
}

/** One configuration the script timed (or failed on). */
export interface TorchBenchCase {
  tower: 'image' | 'text';
  batch: number;
  /** e.g. 'autocast-f16 channels_last', 'f32 eager', 'autocast-f16 compile'. */
  variant: string;
  precision: 'f32' | 'f16' | 'bf16';
  channels_last: boolean;
  compile: boolean;
  median_ms?: number;
  min_ms?: number;
  max_ms?: number;
  repeats?: number;
  /** max |Δ| / max(1, max |f32 reference|) on the same inputs. */
  rel_err?: number;
  items_per_s?: number;
  first_call_ms?: number;
  error?: string;
}

export interface TorchBenchSpec {
  image_batches: number[];
  text_batches: number[];
  budget_s: number;
  warmup?: number;
  repeats?: number;
  /** Per-configuration time cap in seconds. */
  case_s?: number;
  compile?: boolean;
  /** Where to write the f32 features of each tower's smallest batch (keys `image_b<N>`, `text_b<N>`). */
  ref_out?: string;
}

export interface TorchBenchResult {
  device: string;
  device_name: string;
  backend: string;
  torch: string;
  cases: TorchBenchCase[];
  skipped: { what: string; why: string }[];
}

export class PytorchPeer {
  constructor(
    readonly python: string,
    readonly script: string,
    readonly info: TorchInfo,
  ) {}

  private async call(mode: string, args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
    const r = await runPython(this.python, [this.script, mode, ...args], timeoutMs);
    if (r.code !== 0 || r.json?.ok !== true) throw new PytorchPeerError(`${TORCH_SCRIPT} ${mode}`, failure(r, timeoutMs), { hint: `run it by hand: ${this.python} ${this.script} ${mode} ${args.join(' ')}` });
    return r.json;
  }

  /** encode_image / encode_text in f32 (TF32 off), on CUDA when available, else CPU. */
  async features(model: ModelFiles, inputs: FeatureInputs, config: ClipConfig, opts: { timeoutMs: number; device?: 'auto' | 'cpu' | 'cuda' }): Promise<FeatureOutputs> {
    const dir = await mkdtemp(path.join(tmpdir(), 'echoclip-torch-io-'));
    try {
      const S = config.vision.imageSize, L = config.text.contextLength;
      const tensors: [string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }][] = [];
      if (inputs.pixels) tensors.push(['pixels', { dtype: 'F32', shape: [inputs.pixels.length / (3 * S * S), 3, S, S], data: inputs.pixels }]);
      if (inputs.ids) tensors.push(['ids', { dtype: 'I32', shape: [inputs.ids.length / L, L], data: inputs.ids }]);
      const inPath = path.join(dir, 'inputs.safetensors'), outPath = path.join(dir, 'features.safetensors');
      await writeFile(inPath, serializeSafetensors(tensors));
      const j = await this.call('features', ['--weights', model.weights, '--config', model.config, '--inputs', inPath, '--out', outPath, '--device', opts.device ?? 'auto'], opts.timeoutMs);
      const out = await parseSafetensors(new Uint8Array(await readFile(outPath)), outPath);
      const read = async (name: string) => (out.get(name) ? ((await out.read(name)).data as Float32Array) : undefined);
      return { image: await read('image_features'), text: await read('text_features'), backend: String(j.backend), device: String(j.device) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Times the towers per `spec`; every configuration was checked against the f32 result first. */
  async bench(model: ModelFiles, spec: TorchBenchSpec, opts: { timeoutMs: number; device?: 'auto' | 'cpu' | 'cuda' }): Promise<TorchBenchResult> {
    const dir = await mkdtemp(path.join(tmpdir(), 'echoclip-torch-spec-'));
    try {
      const specPath = path.join(dir, 'spec.json');
      await writeFile(specPath, JSON.stringify(spec));
      return (await this.call('bench', ['--weights', model.weights, '--config', model.config, '--spec', specPath, '--device', opts.device ?? 'auto'], opts.timeoutMs)) as unknown as TorchBenchResult;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** max |got − want|, the scale max(1, max |want|), and their ratio (Infinity on NaN or a length mismatch). */
export function featureError(got: Float32Array | undefined, want: Float32Array | undefined): { maxAbs: number; maxRel: number; scale: number } {
  return got && want ? maxErrors(got, want) : { maxAbs: Infinity, maxRel: Infinity, scale: 1 };
}
