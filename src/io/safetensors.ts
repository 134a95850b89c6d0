// safetensors reader and writer (https://github.com/huggingface/safetensors, format section):
// u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, ...,
// "__metadata__": {str: str}}, then the data section. Offsets are relative to the data section.
import { WeightsFormatError } from '../errors.js';
import { DTYPE_SIZE, decodeTensorBytes, isDType, numelOf, tensorBytes } from './dtype.js';
import type { DType, HostTensor, TensorArray } from './dtype.js';
import { memoryByteSource } from './source.js';
import type { ByteSource, TensorInfo, TensorSource } from './source.js';

/** Same bound as the reference implementation: a larger header is a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry extends TensorInfo {
  /** Byte range inside the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Offset of the data section in the file (8 + header length). */
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

function fail(label: string, why: string, hint = 'the file is truncated or corrupt; download or convert it again'): never {
  throw new WeightsFormatError(label, why, { hint });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and validates the header. Every length and offset is checked against the file size
 * before anything is allocated or read, so a hostile header cannot trigger a huge allocation.
 */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const label = src.label;
  if (src.size < 8) fail(label, `file is ${src.size} bytes, shorter than the 8-byte safetensors header length`);
  const lenBytes = await src.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(label, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, 'this is not a safetensors file, or it is corrupt');
  const headerLen = Number(n);
  if (8 + headerLen > src.size) fail(label, `header length ${headerLen} is larger than the file (${src.size} bytes)`);
  if (headerLen < 2) fail(label, `header length ${headerLen} is too small for a JSON object`, 'this is not a safetensors file');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, headerLen));
  } catch {
    fail(label, 'header is not valid UTF-8', 'this is not a safetensors file, or it is corrupt');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(label, `header is not valid JSON (${(e as Error).message})`, 'this is not a safetensors file, or it is corrupt');
  }
  if (!isPlainObject(json)) fail(label, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = src.size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(v)) fail(label, '__metadata__ is not an object of strings');
      for (const [k, mv] of Object.entries(v)) {
        if (typeof mv !== 'string') fail(label, `__metadata__.${k} is ${typeof mv}, expected a string`);
        metadata[k] = mv;
      }
      continue;
    }
    const what = `${label}: tensor '${name}'`;
    if (!isPlainObject(v)) fail(what, 'entry is not an object');
    const { dtype, shape, data_offsets: offs } = v;
    if (!isDType(dtype)) fail(what, `unsupported dtype ${JSON.stringify(dtype)}`, `supported: ${Object.keys(DTYPE_SIZE).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(what, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) fail(what, `data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    const [begin, end] = offs as number[];
    const nbytes = numelOf(shape as number[], what) * DTYPE_SIZE[dtype];
    if (end < begin || end - begin !== nbytes) fail(what, `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${nbytes}`);
    if (end > dataSize) fail(what, `data ends at ${end}, beyond the ${dataSize}-byte data section`);
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const p = byOffset[i - 1], c = byOffset[i];
    if (c.begin < p.end) fail(label, `tensors '${p.name}' [${p.begin}, ${p.end}) and '${c.name}' [${c.begin}, ${c.end}) overlap`);
  }
  // File order = data order (what writers produce and what streaming reads prefer).
  return { dataStart, entries: byOffset, metadata };
}

/** Opens a safetensors file for lazy per-tensor reads. */
export async function openSafetensors(src: ByteSource): Promise<TensorSource> {
  const header = await readSafetensorsHeader(src);
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  return {
    format: 'safetensors',
    tensors: header.entries,
    metadata: header.metadata,
    get: (name) => byName.get(name),
    async read(name: string): Promise<HostTensor> {
      const e = byName.get(name);
      if (!e) throw new WeightsFormatError(src.label, `no tensor named '${name}'`, { hint: 'list the file\'s tensors to see what it holds' });
      const bytes = await src.read(header.dataStart + e.begin, e.end - e.begin);
      return decodeTensorBytes(e.dtype, e.shape.slice(), bytes, `${src.label}: tensor '${name}'`);
    },
    close: () => src.close(),
  };
}

/** Parses safetensors bytes held in memory (browser, Deno, tests). */
export function parseSafetensors(bytes: Uint8Array, label = '<safetensors>'): Promise<TensorSource> {
  return openSafetensors(memoryByteSource(bytes, label));
}

// ---------------------------------------------------------------- writer

/** A tensor to write: stored dtype and shape; data is given when writing. */
export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

export interface SafetensorsLayout {
  /** The 8-byte length prefix plus the space-padded JSON header. */
  header: Uint8Array;
  /** Tensors in the order their data must be written. */
  order: Array<TensorToWrite & { begin: number; end: number }>;
  /** Total file size. */
  size: number;
}

/**
 * Plans a file: tensors grouped by element size, largest first (insertion order within a group),
 * and the header padded with spaces to a multiple of 8, so every tensor starts at an offset that
 * is a multiple of its element size (zero-copy typed-array views, as the reference writer does).
 */
export function planSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): SafetensorsLayout {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name)) throw new WeightsFormatError(`tensor '${t.name}'`, 'duplicate or reserved tensor name', { hint: 'tensor names must be unique and not __metadata__' });
    seen.add(t.name);
    if (!isDType(t.dtype)) throw new WeightsFormatError(`tensor '${t.name}'`, `unsupported dtype ${String(t.dtype)}`);
  }
  const sorted = tensors.map((t, i) => ({ t, i })).sort((a, b) => DTYPE_SIZE[b.t.dtype] - DTYPE_SIZE[a.t.dtype] || a.i - b.i);
  const order: SafetensorsLayout['order'] = [];
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length) json.__metadata__ = { ...metadata };
  let offset = 0;
  for (const { t } of sorted) {
    const nbytes = numelOf(t.shape, `tensor '${t.name}'`) * DTYPE_SIZE[t.dtype];
    order.push({ name: t.name, dtype: t.dtype, shape: t.shape.slice(), begin: offset, end: offset + nbytes });
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, order, size: header.length + offset };
}

/**
 * Streams a safetensors file tensor by tensor: `data(name)` is called once per tensor in write
 * order, and `write` gets the header then each tensor's bytes. Peak memory: one tensor.
 */
export async function writeSafetensors(
  tensors: readonly TensorToWrite[],
  data: (name: string) => Promise<TensorArray | Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  metadata: Record<string, string> = {},
): Promise<number> {
  const layout = planSafetensors(tensors, metadata);
  await write(layout.header);
  for (const e of layout.order) {
    const d = await data(e.name);
    const bytes = d instanceof Uint8Array ? d : tensorBytes({ data: d });
    if (bytes.byteLength !== e.end - e.begin) throw new WeightsFormatError(`tensor '${e.name}'`, `has ${bytes.byteLength} bytes of data, ${e.dtype}${JSON.stringify(e.shape)} needs ${e.end - e.begin}`, { hint: 'the data does not match the declared dtype and shape' });
    await write(bytes);
  }
  return layout.size;
}

/** Serialises host tensors into one in-memory safetensors file. */
export function serializeSafetensors(tensors: Record<string, HostTensor> | ReadonlyArray<[string, HostTensor]>, metadata: Record<string, string> = {}): Uint8Array {
  const list = Array.isArray(tensors) ? tensors : Object.entries(tensors);
  const byName = new Map<string, HostTensor>(list);
  const layout = planSafetensors(list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  const out = new Uint8Array(layout.size);
  out.set(layout.header, 0);
  for (const e of layout.order) {
    const bytes = tensorBytes(byName.get(e.name)!);
    if (bytes.byteLength !== e.end - e.begin) throw new WeightsFormatError(`tensor '${e.name}'`, `has ${bytes.byteLength} bytes of data, ${e.dtype}${JSON.stringify(e.shape)} needs ${e.end - e.begin}`, { hint: 'the data does not match the declared dtype and shape' });
    out.set(bytes, layout.header.length + e.begin);
  }
  return out;
}
