// Node file I/O of the archive index (format.ts): the append-only writer (atomic shard files,
// fsync'd manifest appends, resume after a kill) and the reader that verifies what it loads.

import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { IndexFormatError, UsageError } from '../errors.js';
import { toF16Array } from '../gpu/dtype.js';
import type { HostTensor } from '../io/dtype.js';
import { parseSafetensors, serializeSafetensors } from '../io/safetensors.js';
import {
  type ClipLine, type FailureLine, HEADER_FILE, type IndexHeader, MANIFEST_FILE, type ManifestLine, type ReportLine,
  SHARD_DIR, type ShardLine, assertSameHeader, encodeLine, parseHeader, parseManifest,
} from './format.js';

export function sha256OfBytes(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** write → fsync → rename → fsync(dir): after it returns the file is whole or absent, never torn. */
export async function writeFileDurable(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(path.dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; some file systems refuse fsync on a directory: harmless.
  const d = await open(dir, 'r').catch(() => undefined);
  if (!d) return;
  await d.sync().catch(() => undefined);
  await d.close();
}

/** Embeddings of one clip as the writer takes them. */
export interface ClipEmbedding {
  /** L2-normalised frame embeddings [T, D]. */
  frames: Float32Array;
  /** Mean of the normalised frames [D]. */
  video: Float32Array;
}

export interface LoadedIndex {
  dir: string;
  header: IndexHeader;
  clips: ClipLine[];
  reports: ReportLine[];
  failures: FailureLine[];
  shards: Map<string, ShardLine>;
  /** Manifest bytes that hold complete lines (a torn tail beyond it is ignored). */
  committedBytes: number;
  tornTail: boolean;
}

/** Reads index.json and manifest.jsonl (not the shards). */
export async function openIndex(dir: string): Promise<LoadedIndex> {
  const hf = path.join(dir, HEADER_FILE);
  const text = await readFile(hf, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new IndexFormatError(dir, `has no readable ${HEADER_FILE} (${e.code ?? String(e)})`, { hint: "give a directory written by 'echoclip index'" });
  });
  const header = parseHeader(text, hf);
  const mf = path.join(dir, MANIFEST_FILE);
  const bytes = await readFile(mf).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return new Uint8Array(0);
    throw new IndexFormatError(mf, `cannot be read (${e.code ?? String(e)})`);
  });
  const m = parseManifest(new Uint8Array(bytes), mf);
  const shards = new Map<string, ShardLine>();
  const clips: ClipLine[] = [];
  const reports: ReportLine[] = [];
  const failures: FailureLine[] = [];
  m.lines.forEach((l, i) => {
    if (l.type === 'shard') shards.set(l.file, l);
    else if (l.type === 'failure') failures.push(l);
    else {
      const s = shards.get(l.shard);
      if (!s || l.row < 0 || l.row >= s.rows) throw new IndexFormatError(`${mf} line ${i + 1}`, `refers to row ${l.row} of shard ${l.shard}, which the manifest does not hold`);
      if (l.type === 'clip') clips.push(l);
      else reports.push(l);
    }
  });
  return { dir, header, clips, reports, failures, shards, committedBytes: m.committedBytes, tornTail: m.tornTail };
}

export interface ShardData {
  /** Raw storage (f16 bits or f32) of `frames`/`text` and `video`, and frame offsets. */
  frames: Uint16Array | Float32Array;
  video: Uint16Array | Float32Array;
  offsets: Int32Array;
}

/** Loads and verifies one shard (size always; sha256 unless `verify` is false). */
export async function readShard(index: LoadedIndex, file: string, opts: { verify?: boolean } = {}): Promise<ShardData> {
  const line = index.shards.get(file);
  const p = path.join(index.dir, SHARD_DIR, file);
  if (!line) throw new IndexFormatError(p, 'is not listed in the manifest');
  const buf = await readFile(p).catch((e: NodeJS.ErrnoException) => {
    throw new IndexFormatError(p, `cannot be read (${e.code ?? String(e)})`, { hint: 'a shard listed in the manifest is missing: restore it or rebuild this part' });
  });
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes.length !== line.bytes) throw new IndexFormatError(p, `is ${bytes.length} bytes, the manifest says ${line.bytes} (truncated or replaced)`, { hint: 'restore the shard or rebuild this part' });
  if (opts.verify !== false && sha256OfBytes(bytes) !== line.sha256) throw new IndexFormatError(p, 'sha256 differs from the manifest (the shard was modified)', { hint: 'restore the shard or rebuild this part' });
  let src;
  try {
    src = await parseSafetensors(bytes, p);
  } catch (e) {
    throw new IndexFormatError(p, `is not a readable safetensors file (${e instanceof Error ? e.message : String(e)})`);
  }
  const main = index.header.kind === 'clips' ? 'frames' : 'text';
  const data = async (name: string): Promise<Uint16Array | Float32Array | Int32Array> => {
    if (!src.get(name)) throw new IndexFormatError(p, `has no tensor '${name}'`);
    return (await src.read(name)).data as Uint16Array | Float32Array | Int32Array;
  };
  const frames = (await data(main)) as Uint16Array | Float32Array;
  if (index.header.kind === 'reports') return { frames, video: frames, offsets: Int32Array.from({ length: line.rows + 1 }, (_, i) => i) };
  return { frames, video: (await data('video')) as Uint16Array | Float32Array, offsets: (await data('frame_offsets')) as Int32Array };
}

/** Reads every shard the records use, once each. */
export async function readShards(index: LoadedIndex, records: readonly { shard: string }[]): Promise<Map<string, ShardData>> {
  const out = new Map<string, ShardData>();
  for (const r of records) if (!out.has(r.shard)) out.set(r.shard, await readShard(index, r.shard));
  return out;
}

/** An embedding matrix in storage form: f16 bits or f32 values, row-major [rows, dim]. */
export interface EmbeddingMatrix {
  data: Uint16Array | Float32Array;
  rows: number;
  dim: number;
}

/**
 * Visits the shards the records use one at a time (peak memory: one shard), with the positions
 * in `records` of the records each holds.
 */
export async function forEachShard(index: LoadedIndex, records: readonly { shard: string }[], visit: (shard: ShardData, positions: number[]) => void | Promise<void>, opts: { verify?: boolean } = {}): Promise<void> {
  const byShard = new Map<string, number[]>();
  records.forEach((r, i) => {
    let l = byShard.get(r.shard);
    if (!l) byShard.set(r.shard, (l = []));
    l.push(i);
  });
  for (const [file, positions] of byShard) await visit(await readShard(index, file, opts), positions);
}

/** The per-clip (or per-report) vectors of `records`, in record order, in storage dtype. */
export async function gatherVectors(index: LoadedIndex, records: readonly (ClipLine | ReportLine)[], opts: { verify?: boolean } = {}): Promise<EmbeddingMatrix> {
  const D = index.header.model.embedDim;
  const data = index.header.storage === 'f16' ? new Uint16Array(records.length * D) : new Float32Array(records.length * D);
  await forEachShard(index, records, (shard, positions) => {
    for (const i of positions) data.set(shard.video.subarray(records[i]!.row * D, (records[i]!.row + 1) * D), i * D);
  }, opts);
  return { data, rows: records.length, dim: D };
}

/** The frame rows of one clip [T, D] in storage dtype. */
export function clipFrames(shard: ShardData, row: number, dim: number): Uint16Array | Float32Array {
  return shard.frames.subarray(shard.offsets[row]! * dim, shard.offsets[row + 1]! * dim);
}

/**
 * Appends to one index directory. Creating: writes index.json. Resuming: the header must match
 * (IndexMismatchError) and a torn manifest tail is cut off before the first append.
 */
export class IndexWriter {
  private pending: { line: ClipLine | ReportLine; emb: ClipEmbedding }[] = [];
  private seq = 0;

  private constructor(readonly dir: string, readonly header: IndexHeader, readonly existing: LoadedIndex | undefined, private readonly tag: string) {}

  static async open(dir: string, header: IndexHeader, opts: { resume: boolean; tag: string }): Promise<IndexWriter> {
    await mkdir(path.join(dir, SHARD_DIR), { recursive: true });
    const hasHeader = await stat(path.join(dir, HEADER_FILE)).then(() => true, () => false);
    let existing: LoadedIndex | undefined;
    if (hasHeader) {
      if (!opts.resume) throw new UsageError(dir, 'already holds an index', { hint: 'give --resume to continue it, or a new --out directory' });
      existing = await openIndex(dir);
      assertSameHeader(existing.header, header, dir);
      if (existing.tornTail) await truncate(path.join(dir, MANIFEST_FILE), existing.committedBytes);
    } else {
      await writeFileDurable(path.join(dir, HEADER_FILE), JSON.stringify(header, null, 2) + '\n');
    }
    const w = new IndexWriter(dir, header, existing, opts.tag);
    // Shard numbers continue after every file already there (an orphan of a killed run included).
    const names = await readdir(path.join(dir, SHARD_DIR));
    for (const n of names) {
      const m = new RegExp(`^${opts.tag}-(\\d+)\\.safetensors$`).exec(n);
      if (m) w.seq = Math.max(w.seq, Number(m[1]) + 1);
    }
    return w;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  add(line: Omit<ClipLine, 'shard' | 'row'> | Omit<ReportLine, 'shard' | 'row'>, emb: ClipEmbedding): void {
    this.pending.push({ line: { ...line, shard: '', row: 0 } as ClipLine | ReportLine, emb });
  }

  async fail(line: FailureLine): Promise<void> {
    await this.append([line]);
  }

  /** Writes the pending clips as one shard, then their manifest lines (shard first: a line never points at a missing file). */
  async flush(): Promise<void> {
    if (!this.pending.length) return;
    const D = this.header.model.embedDim;
    const file = `${this.tag}-${String(this.seq++).padStart(6, '0')}.safetensors`;
    const rows = this.pending.length;
    const totalFrames = this.pending.reduce((n, p) => n + p.emb.frames.length / D, 0);
    const frames = new Float32Array(totalFrames * D);
    const video = new Float32Array(rows * D);
    const offsets = new Int32Array(rows + 1);
    this.pending.forEach((p, i) => {
      frames.set(p.emb.frames, offsets[i]! * D);
      offsets[i + 1] = offsets[i]! + p.emb.frames.length / D;
      video.set(p.emb.video, i * D);
      p.line.shard = file;
      p.line.row = i;
    });
    const st: 'F16' | 'F32' = this.header.storage === 'f16' ? 'F16' : 'F32';
    const store = (a: Float32Array) => (st === 'F16' ? toF16Array(a) : a);
    const tensors: Record<string, HostTensor> = this.header.kind === 'clips'
      ? { frames: { dtype: st, shape: [totalFrames, D], data: store(frames) }, video: { dtype: st, shape: [rows, D], data: store(video) }, frame_offsets: { dtype: 'I32', shape: [rows + 1], data: offsets } }
      : { text: { dtype: st, shape: [rows, D], data: store(video) } };
    const bytes = serializeSafetensors(tensors, { format: 'echoclip-index-shard', kind: this.header.kind });
    await writeFileDurable(path.join(this.dir, SHARD_DIR, file), bytes);
    const shardLine: ShardLine = { type: 'shard', file, bytes: bytes.length, sha256: sha256OfBytes(bytes), rows };
    const lines = [shardLine, ...this.pending.map((p) => p.line)];
    this.pending = [];
    await this.append(lines);
  }

  private async append(lines: ManifestLine[]): Promise<void> {
    const fh = await open(path.join(this.dir, MANIFEST_FILE), 'a');
    try {
      await fh.write(lines.map(encodeLine).join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
