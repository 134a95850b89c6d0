// Shared plumbing for the model commands (embed, zero-shot, search, finetune): device, weights,
// tokenizer and tensor-file flags, each with the same names and errors everywhere.
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { requestDevice, type Gpu } from '../gpu/device.js';
import { toFloat32 } from '../io/dtype.js';
import { parseSafetensors } from '../io/safetensors.js';
import { openWeights } from '../io/weights-node.js';
import { EchoClipModel } from '../models/clip.js';
import { parseByteSize } from '../models/batching.js';
import type { WeightDType } from '../models/parameters.js';
import { loadClipBpeTokenizer, loadTemplateTokenizer } from '../tokenizer/load-node.js';
import { flagString, type ParsedArgs } from './args.js';
import { fileProgress } from './progress.js';

/** Flags every model command accepts. */
export const MODEL_FLAGS = { weights: 'value', device: 'value', dtype: 'value' } as const;
/** Flags of the commands that run the towers over many frames/prompts (embed, zero-shot, search). */
export const BATCH_FLAGS = { memory: 'value' } as const;
export const TOKENIZER_FLAGS = { tokenizer: 'value', vocab: 'value', 'template-vocab': 'value' } as const;

export function dtypeFlag(args: ParsedArgs, command: string): WeightDType {
  const d = flagString(args, 'dtype') ?? 'f32';
  if (d !== 'f32' && d !== 'f16') throw new UsageError(`echoclip ${command}`, `--dtype must be f32 or f16, got '${d}'`);
  return d;
}

export async function openDevice(args: ParsedArgs): Promise<Gpu> {
  return requestDevice({ adapter: flagString(args, 'device') });
}

/** Loads the model named by --weights (directory, file or hf-hub id) onto `gpu`. */
export async function loadModel(gpu: Gpu, args: ParsedArgs, command: string): Promise<{ model: EchoClipModel; weightsFile: string }> {
  const location = flagString(args, 'weights');
  if (!location) throw new UsageError(`echoclip ${command}`, '--weights is required', { hint: "a directory in the hub layout, or 'hf-hub:mkaichristensen/echo-clip'" });
  const w = await openWeights(location, { onProgress: fileProgress() });
  try {
    const memory = flagString(args, 'memory');
    const model = await EchoClipModel.load(gpu, w.source, w.config, {
      dtype: dtypeFlag(args, command),
      label: w.files.weights,
      // --memory: the activation budget per pass (default by adapter: 16 MiB software, 512 MiB GPU).
      activationBudget: memory === undefined ? undefined : parseByteSize(memory, `echoclip ${command} --memory`),
      log: (line) => process.stderr.write(`${command}: ${line}\n`),
    });
    return { model, weightsFile: w.files.weights };
  } finally {
    await w.source.close();
  }
}

export type TokenizerKind = 'bpe' | 'template';

export interface TextTokenizer {
  kind: TokenizerKind;
  tokenize(texts: readonly string[]): Int32Array[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The tokenizer chosen by --tokenizer (default per command), with its data from --vocab /
 * --template-vocab; a weights directory that holds the files is searched first.
 */
export async function loadTokenizer(args: ParsedArgs, command: string, fallback: TokenizerKind): Promise<TextTokenizer> {
  const kind = (flagString(args, 'tokenizer') ?? fallback) as TokenizerKind;
  if (kind !== 'bpe' && kind !== 'template') throw new UsageError(`echoclip ${command}`, `--tokenizer must be bpe or template, got '${kind}'`);
  const weights = flagString(args, 'weights');
  const dir = weights && !weights.startsWith('hf-hub:') && (await stat(weights).then((s) => s.isDirectory(), () => false)) ? weights : undefined;
  if (kind === 'bpe') {
    let vocab = flagString(args, 'vocab');
    if (!vocab && dir) {
      for (const c of [path.join(dir, 'bpe_simple_vocab_16e6.txt.gz')]) if (await exists(c)) vocab = c;
      if (!vocab && (await exists(path.join(dir, 'vocab.json'))) && (await exists(path.join(dir, 'merges.txt')))) vocab = dir;
    }
    if (!vocab) throw new UsageError(`echoclip ${command}`, 'the CLIP BPE vocabulary was not found', { hint: '--vocab bpe_simple_vocab_16e6.txt.gz (or a directory with vocab.json + merges.txt)' });
    const t = await loadClipBpeTokenizer(vocab);
    return { kind, tokenize: (texts) => t.tokenize(texts) };
  }
  let vocab = flagString(args, 'template-vocab');
  if (!vocab && dir && (await exists(path.join(dir, 'template_vocab.txt')))) vocab = path.join(dir, 'template_vocab.txt');
  if (!vocab) throw new UsageError(`echoclip ${command}`, 'the template vocabulary was not found', { hint: '--template-vocab template_vocab.txt' });
  const t = await loadTemplateTokenizer(vocab);
  return { kind, tokenize: (texts) => t.tokenize(texts) };
}

/** A JSON array of strings (TEXTS.json / REPORTS.json). */
export async function readTextsJson(file: string, command: string): Promise<string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new UsageError(file, `is not readable JSON (${e instanceof Error ? e.message : String(e)})`, { hint: `echoclip ${command} expects a JSON array of strings` });
  }
  if (!Array.isArray(parsed) || parsed.some((t) => typeof t !== 'string')) throw new UsageError(file, 'must be a JSON array of strings');
  return parsed as string[];
}

/**
 * `FILE.safetensors[:TENSOR]`: one tensor of a safetensors file (the only tensor when no name is
 * given). Returns its shape and data (floats or ints as stored).
 */
export async function readTensorArg(spec: string, what: string): Promise<{ shape: number[]; data: Float32Array | Int32Array }> {
  let file = spec;
  let name: string | undefined;
  const colon = spec.lastIndexOf(':');
  if (colon > 0 && !spec.slice(colon + 1).includes('/') && !(await exists(spec))) {
    file = spec.slice(0, colon);
    name = spec.slice(colon + 1);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new UsageError(file, `cannot read the ${what} file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const src = await parseSafetensors(bytes, file);
  if (!name) {
    if (src.tensors.length !== 1) throw new UsageError(file, `holds ${src.tensors.length} tensors (${src.tensors.map((t) => t.name).join(', ')})`, { hint: `name one: ${file}:TENSOR` });
    name = src.tensors[0].name;
  }
  if (!src.get(name)) throw new UsageError(file, `has no tensor '${name}'`, { hint: `tensors: ${src.tensors.map((t) => t.name).join(', ')}` });
  const t = await src.read(name);
  if (t.data instanceof Int32Array) return { shape: t.shape, data: t.data };
  if (t.dtype === 'I16' || t.dtype === 'I8' || t.dtype === 'U8') return { shape: t.shape, data: Int32Array.from(t.data as ArrayLike<number>) };
  return { shape: t.shape, data: toFloat32(t, `${file}:${name}`) };
}

/** Writes a file atomically (temporary name, then rename). */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}
