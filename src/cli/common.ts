// Shared plumbing for the model commands (embed, zero-shot, search, finetune): the one-line API
// behind the weights / tokenizer / asset flags, and tensor files, with the same names and errors everywhere.
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { EchoClip, PRETRAINED, type EchoClipOptions, type EchoClipProgress } from '../api/echoclip.js';
import { nodePlatform } from '../api/platform-node.js';
import { resolveTokenizer, tokenizerForModel, type TextTokenizer, type TokenizerKind } from '../api/resolve.js';
import { requestDevice, type Gpu } from '../gpu/device.js';
import { toFloat32 } from '../io/dtype.js';
import type { GemmMath } from '../kernels/gemm/index.js';
import { parseSafetensors } from '../io/safetensors.js';
import { parseByteSize } from '../models/batching.js';
import type { WeightDType } from '../models/parameters.js';
import { flagString, type ParsedArgs } from './args.js';
import { fileProgress, progressBar, type ProgressBar } from './progress.js';

/** Flags every model command accepts. */
export const MODEL_FLAGS = { weights: 'value', device: 'value', dtype: 'value', math: 'value' } as const;
/** Flags of the commands that run the towers over many frames/prompts (embed, zero-shot, search). */
export const BATCH_FLAGS = { memory: 'value' } as const;
export const TOKENIZER_FLAGS = { tokenizer: 'value', vocab: 'value', 'template-vocab': 'value', 'assets-url': 'value' } as const;

/** --weights when none is given: the published model each command is meant for. */
export const DEFAULT_WEIGHTS: Record<string, string> = {
  'zero-shot': PRETRAINED['echo-clip'],
  embed: PRETRAINED['echo-clip'],
  search: PRETRAINED['echo-clip-r'],
};

/** --math f32|f16 (f16: autocast-like GEMMs with f16 weights; default f32). */
export function mathFlag(args: ParsedArgs, command: string): GemmMath {
  const m = flagString(args, 'math') ?? 'f32';
  if (m !== 'f32' && m !== 'f16') throw new UsageError(`echoclip ${command}`, `--math must be f32 or f16, got '${m}'`);
  return m;
}

export function dtypeFlag(args: ParsedArgs, command: string): WeightDType {
  const d = flagString(args, 'dtype') ?? 'f32';
  if (d !== 'f32' && d !== 'f16') throw new UsageError(`echoclip ${command}`, `--dtype must be f32 or f16, got '${d}'`);
  return d;
}

export async function openDevice(args: ParsedArgs): Promise<Gpu> {
  return requestDevice({ adapter: flagString(args, 'device') });
}

export type { TextTokenizer, TokenizerKind };

function tokenizerFlag(args: ParsedArgs, command: string): TokenizerKind | undefined {
  const kind = flagString(args, 'tokenizer');
  if (kind !== undefined && kind !== 'bpe' && kind !== 'template') throw new UsageError(`echoclip ${command}`, `--tokenizer must be bpe or template, got '${kind}'`);
  return kind;
}

/** The API's progress events as stderr bars: one per downloaded file, one per tower pass. */
export function cliProgress(): (e: EchoClipProgress) => void {
  const files = fileProgress();
  const bars = new Map<string, ProgressBar>();
  return (e) => {
    if (e.stage === 'download') { files({ file: e.file, received: e.done, total: e.total }); return; }
    let bar = bars.get(e.stage);
    if (!bar) { bar = progressBar(e.stage, { unit: 'items' }); bars.set(e.stage, bar); }
    bar.update(e.done, e.total);
    if (e.done >= e.total) { bar.finish(); bars.delete(e.stage); }
  };
}

/**
 * The model of --weights (default: the command's published model) through the one-line API, with
 * the tokenizer / vocabulary / prompt flags as its options.
 */
export async function openEchoClip(args: ParsedArgs, command: string, extra: { defaultTokenizer: TokenizerKind; prompts?: string }): Promise<EchoClip> {
  const memory = flagString(args, 'memory');
  const options: EchoClipOptions = {
    dtype: dtypeFlag(args, command),
    math: mathFlag(args, command),
    device: flagString(args, 'device'),
    tokenizer: tokenizerFlag(args, command),
    defaultTokenizer: extra.defaultTokenizer,
    vocab: flagString(args, 'vocab'),
    templateVocab: flagString(args, 'template-vocab'),
    prompts: extra.prompts,
    assetsBaseUrl: flagString(args, 'assets-url'),
    // --memory: the activation budget per pass (default by adapter: 16 MiB software, 512 MiB GPU).
    activationBudget: memory === undefined ? undefined : parseByteSize(memory, `echoclip ${command} --memory`),
    promptCache: !args.flags.has('no-cache'),
    onProgress: cliProgress(),
    log: (line) => process.stderr.write(`${command}: ${line}\n`),
  };
  return EchoClip.fromPretrained(flagString(args, 'weights') ?? DEFAULT_WEIGHTS[command] ?? PRETRAINED['echo-clip'], options);
}

/**
 * The tokenizer of --tokenizer (default `fallback`), its data from --vocab / --template-vocab,
 * else beside a local --weights directory, else the shipped vocabulary / the pinned download.
 */
export async function loadTokenizer(args: ParsedArgs, command: string, fallback: TokenizerKind): Promise<TextTokenizer> {
  const kind = tokenizerFlag(args, command) ?? tokenizerForModel(flagString(args, 'weights')) ?? fallback;
  const r = await resolveTokenizer(nodePlatform(), kind, { vocab: flagString(args, 'vocab'), templateVocab: flagString(args, 'template-vocab') }, {
    weights: flagString(args, 'weights'),
    assetsBaseUrl: flagString(args, 'assets-url'),
    onDownload: cliProgress(),
  });
  return r.tokenizer;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
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
