// The archive index format (README "Archive scale"): a directory holding
//   index.json          what produced the embeddings (weights sha256, dtype, preprocessing, width,
//                       storage dtype, patient-salt id); written once, atomically
//   shards/*.safetensors embeddings, one file per flushed batch: `frames` [F, D] (L2-normalised frame
//                       embeddings), `video` [C, D] (their per-clip mean, not re-normalised, as
//                       echo_CLIP's embedding_example.py), `frame_offsets` I32 [C + 1]; reports
//                       indexes hold `text` [R, D]. Written tmp → fsync → rename, never rewritten.
//   manifest.jsonl      one JSON object per line, appended (one write + fsync per flushed batch):
//                       a `shard` line (file, bytes, sha256) then one `clip` line per clip of it;
//                       `failure` lines as files fail. Every line carries `check`, a hash of the
//                       rest of the line, so an edited line is found instead of trusted.
// Pure data and validation here; the Node file I/O is in store-node.ts.

import { IndexFormatError, IndexMismatchError } from '../errors.js';

export const INDEX_FORMAT = 'echoclip-index';
export const INDEX_VERSION = 1;
export const HEADER_FILE = 'index.json';
export const MANIFEST_FILE = 'manifest.jsonl';
export const SHARD_DIR = 'shards';

export type IndexKind = 'clips' | 'reports';
export type StorageDType = 'f16' | 'f32';

/** What an index's embeddings depend on; two indexes merge only when these are equal. */
export interface IndexHeader {
  format: typeof INDEX_FORMAT;
  version: number;
  kind: IndexKind;
  model: { weightsSha256: string; weightDtype: string; embedDim: number; tokenizer?: string };
  /** Clip indexes: the frame selection and colour order every clip went through. */
  preprocessing: { frames: string; trueRgb: boolean; imageSize: number } | null;
  storage: StorageDType;
  /** sha256("echoclip-patient-salt:" + salt), first 16 hex digits; null when no patient ids were hashed. */
  patientSaltId: string | null;
}

export interface ShardLine {
  type: 'shard';
  file: string;
  bytes: number;
  sha256: string;
  rows: number;
}

export interface ClipLine {
  type: 'clip';
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  shard: string;
  row: number;
  frames: number;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  /** Salted hash of the patient id (or the id itself with --patient-in-clear). */
  patient?: string;
}

export interface ReportLine {
  type: 'report';
  id: string;
  text: string;
  shard: string;
  row: number;
}

export interface FailureLine {
  type: 'failure';
  path: string;
  error: string;
  code: string;
  size?: number;
  mtimeMs?: number;
}

export type ManifestLine = ShardLine | ClipLine | ReportLine | FailureLine;
type Checked<T> = T & { check: string };

/** The fields of the header that must agree for two parts to be one index. */
export function headerKey(h: IndexHeader): string {
  return JSON.stringify([h.kind, h.model.weightsSha256, h.model.weightDtype, h.model.embedDim, h.model.tokenizer ?? null, h.preprocessing, h.storage, h.patientSaltId]);
}

/** Throws IndexMismatchError naming the first field where `b` differs from `a`. */
export function assertSameHeader(a: IndexHeader, b: IndexHeader, what: string): void {
  const fields: [string, unknown, unknown][] = [
    ['kind', a.kind, b.kind],
    ['weights sha256', a.model.weightsSha256, b.model.weightsSha256],
    ['weight dtype', a.model.weightDtype, b.model.weightDtype],
    ['embedding width', a.model.embedDim, b.model.embedDim],
    ['tokenizer', a.model.tokenizer ?? null, b.model.tokenizer ?? null],
    ['preprocessing', JSON.stringify(a.preprocessing), JSON.stringify(b.preprocessing)],
    ['storage dtype', a.storage, b.storage],
    ['patient salt', a.patientSaltId, b.patientSaltId],
  ];
  for (const [name, x, y] of fields) {
    if (x !== y) throw new IndexMismatchError(what, `${name} differs: ${String(x)} vs ${String(y)}`, { hint: 'index parts combine only when made with the same weights, preprocessing, storage and patient salt' });
  }
}

export function parseHeader(text: string, what: string): IndexHeader {
  let h: IndexHeader;
  try {
    h = JSON.parse(text) as IndexHeader;
  } catch (e) {
    throw new IndexFormatError(what, `is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (h?.format !== INDEX_FORMAT) throw new IndexFormatError(what, `is not an echoclip index header (format ${JSON.stringify(h?.format)})`);
  if (h.version !== INDEX_VERSION) throw new IndexFormatError(what, `has version ${h.version}; this build reads version ${INDEX_VERSION}`);
  if (h.kind !== 'clips' && h.kind !== 'reports') throw new IndexFormatError(what, `unknown kind ${JSON.stringify(h.kind)}`);
  if (h.storage !== 'f16' && h.storage !== 'f32') throw new IndexFormatError(what, `unknown storage dtype ${JSON.stringify(h.storage)}`);
  if (!Number.isInteger(h.model?.embedDim) || h.model.embedDim < 1) throw new IndexFormatError(what, 'has no valid model.embedDim');
  return h;
}

/** 64-bit FNV-1a of a string as 16 hex digits (the line check: cheap, not a security hash). */
export function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  const bytes = new TextEncoder().encode(s);
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/** One manifest line (with its trailing newline). */
export function encodeLine(line: ManifestLine): string {
  const body = JSON.stringify(line);
  return JSON.stringify({ ...line, check: fnv1a64(body) } satisfies Checked<ManifestLine>) + '\n';
}

export interface ParsedManifest {
  lines: ManifestLine[];
  /** Bytes of the manifest that end with a complete line; a torn last line (a write cut short) lies beyond. */
  committedBytes: number;
  tornTail: boolean;
}

/**
 * Parses manifest.jsonl. A last line without its newline is a write cut short (the process was
 * killed mid-append): not committed, ignored. Any complete line that is not valid JSON, lacks its
 * check, or whose check differs is an edit: IndexFormatError.
 */
export function parseManifest(bytes: Uint8Array, what: string): ParsedManifest {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const lastNl = text.lastIndexOf('\n');
  const committed = text.slice(0, lastNl + 1);
  const lines: ManifestLine[] = [];
  const raw = committed.split('\n');
  raw.pop();
  raw.forEach((l, i) => {
    let obj: Checked<ManifestLine>;
    try {
      obj = JSON.parse(l) as Checked<ManifestLine>;
    } catch {
      throw new IndexFormatError(`${what} line ${i + 1}`, 'is not valid JSON', { hint: 'the manifest was edited or damaged; restore it or rebuild this part' });
    }
    const { check, ...rest } = obj;
    if (typeof check !== 'string' || fnv1a64(JSON.stringify(rest)) !== check) {
      throw new IndexFormatError(`${what} line ${i + 1}`, 'does not match its check (the line was edited)', { hint: 'manifest lines are written by echoclip index only; restore the file or rebuild this part' });
    }
    if (!['shard', 'clip', 'report', 'failure'].includes(rest.type)) throw new IndexFormatError(`${what} line ${i + 1}`, `unknown line type ${JSON.stringify(rest.type)}`);
    lines.push(rest as ManifestLine);
  });
  return { lines, committedBytes: new TextEncoder().encode(committed).length, tornTail: committed.length !== text.length };
}

/** Deterministic shard of a path: the first 32 bits of sha256(path) modulo the shard count. */
export function shardOfHash(sha256Hex: string, count: number): number {
  return Number.parseInt(sha256Hex.slice(0, 8), 16) % count;
}
