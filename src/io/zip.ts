// Minimal zip reader for PyTorch checkpoints: central directory (zip64 where needed), local
// headers, stored entries read in place, deflated entries through DecompressionStream.
// Spec: PKWARE APPNOTE.TXT §4.3.
import { WeightsFormatError } from '../errors.js';
import { crc32 } from './crc32.js';
import type { ByteSource } from './source.js';

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflated. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

export interface ZipArchive {
  readonly source: ByteSource;
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** Bytes [offset, offset+length) of an entry's uncompressed content. */
  read(entry: ZipEntry, offset?: number, length?: number): Promise<Uint8Array>;
}

const SIG_EOCD = 0x06054b50, SIG_EOCD64 = 0x06064b50, SIG_LOC64 = 0x07064b50, SIG_CEN = 0x02014b50, SIG_LOC = 0x04034b50;
/** The central directory is read in one piece; a larger one is not a checkpoint. */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

function bad(src: ByteSource, why: string): never {
  throw new WeightsFormatError(src.label, why, { hint: 'the zip archive is truncated or corrupt; download it again' });
}

function u64(dv: DataView, at: number, src: ByteSource): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(src, `zip64 field ${v} is out of range`);
  return Number(v);
}

/** Finds the end-of-central-directory record: it is in the last 22 + 65,535 bytes. */
async function findEocd(src: ByteSource): Promise<{ at: number; dv: DataView }> {
  if (src.size < 22) bad(src, `file is ${src.size} bytes, too short for a zip archive`);
  const tailLen = Math.min(src.size, 22 + 0xffff);
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, tailLen);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tailLen - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) === SIG_EOCD && i + 22 + dv.getUint16(i + 20, true) <= tailLen) {
      return { at: tailStart + i, dv: new DataView(tail.buffer, tail.byteOffset + i, tailLen - i) };
    }
  }
  throw new WeightsFormatError(src.label, 'no zip end-of-central-directory record', {
    hint: 'not a zip-format PyTorch checkpoint (files saved before torch 1.6 use a legacy format: re-save with torch.save in a recent PyTorch, or convert to safetensors)',
  });
}

export async function openZip(src: ByteSource): Promise<ZipArchive> {
  const { at: eocdAt, dv: eocd } = await findEocd(src);
  let count = eocd.getUint16(10, true);
  let cdSize = eocd.getUint32(12, true);
  let cdOffset = eocd.getUint32(16, true);
  if (eocd.getUint16(4, true) !== 0 || eocd.getUint16(6, true) !== 0) {
    if (count !== 0xffff) bad(src, 'multi-disk zip archives are not supported');
  }
  let cdEndLimit = eocdAt;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64: a locator sits just before the EOCD and points at the zip64 EOCD record.
    if (eocdAt < 20) bad(src, 'zip64 locator missing');
    const loc = await src.read(eocdAt - 20, 20);
    const ldv = new DataView(loc.buffer, loc.byteOffset, 20);
    if (ldv.getUint32(0, true) !== SIG_LOC64) bad(src, 'zip64 locator missing');
    const eocd64At = u64(ldv, 8, src);
    if (eocd64At + 56 > eocdAt - 20) bad(src, `zip64 end record offset ${eocd64At} is out of range`);
    const rec = await src.read(eocd64At, 56);
    const rdv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rdv.getUint32(0, true) !== SIG_EOCD64) bad(src, 'zip64 end record signature mismatch');
    count = u64(rdv, 32, src);
    cdSize = u64(rdv, 40, src);
    cdOffset = u64(rdv, 48, src);
    cdEndLimit = eocd64At;
  }
  if (cdOffset + cdSize > cdEndLimit) bad(src, `central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${cdEndLimit}`);
  if (cdSize > MAX_CENTRAL_DIRECTORY) bad(src, `central directory of ${cdSize} bytes is implausibly large`);
  if (count * 46 > cdSize) bad(src, `central directory of ${cdSize} bytes cannot hold ${count} entries`);
  const cd = await src.read(cdOffset, cdSize);
  const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries = new Map<string, ZipEntry>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || dv.getUint32(p, true) !== SIG_CEN) bad(src, `central directory entry ${i} is malformed`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true), commentLen = dv.getUint16(p + 32, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdSize) bad(src, `central directory entry ${i} runs past the directory`);
    let name: string;
    try { name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen)); } catch { bad(src, `entry ${i} has a name that is not UTF-8`); }
    // zip64 extended information: only the fields whose 32-bit value is saturated are present, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = dv.getUint16(x, true), len = dv.getUint16(x + 2, true);
      if (x + 4 + len > xEnd) bad(src, `entry '${name}' has a malformed extra field`);
      if (id === 0x0001) {
        let q = x + 4;
        const take = (): number => { if (q + 8 > x + 4 + len) bad(src, `entry '${name}' has a short zip64 field`); const v = u64(dv, q, src); q += 8; return v; };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      x += 4 + len;
    }
    if (flags & 1) bad(src, `entry '${name}' is encrypted`);
    if (method !== 0 && method !== 8) {
      throw new WeightsFormatError(src.label, `entry '${name}' uses compression method ${method}`, { hint: 'only stored (0) and deflated (8) entries are supported; re-save the checkpoint with torch.save' });
    }
    if (method === 0 && compressedSize !== size) bad(src, `stored entry '${name}' has compressed size ${compressedSize} != size ${size}`);
    // Deflate cannot expand more than ~1032:1; a larger declared size is corrupt (or a zip bomb)
    // and must not drive the output allocation.
    if (method === 8 && size > compressedSize * 1032 + 64) bad(src, `deflated entry '${name}' declares ${size} bytes from ${compressedSize} compressed bytes`);
    if (localHeaderOffset + 30 + compressedSize > cdOffset) bad(src, `entry '${name}' data runs past the central directory`);
    if (entries.has(name)) bad(src, `duplicate entry '${name}'`);
    entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
    p = end;
  }
  const dataStarts = new Map<ZipEntry, number>();
  async function dataStart(e: ZipEntry): Promise<number> {
    let s = dataStarts.get(e);
    if (s !== undefined) return s;
    const h = await src.read(e.localHeaderOffset, 30);
    const hdv = new DataView(h.buffer, h.byteOffset, 30);
    if (hdv.getUint32(0, true) !== SIG_LOC) bad(src, `local header of '${e.name}' not found at ${e.localHeaderOffset}`);
    s = e.localHeaderOffset + 30 + hdv.getUint16(26, true) + hdv.getUint16(28, true);
    if (s + e.compressedSize > cdOffset) bad(src, `entry '${e.name}' data runs past the central directory`);
    dataStarts.set(e, s);
    return s;
  }
  return {
    source: src,
    entries,
    async read(e: ZipEntry, offset = 0, length = e.size - offset): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > e.size) bad(src, `read [${offset}, ${offset + length}) is outside entry '${e.name}' (${e.size} bytes)`);
      const start = await dataStart(e);
      const whole = offset === 0 && length === e.size;
      let bytes: Uint8Array;
      if (e.method === 0) {
        bytes = await src.read(start + offset, length);
      } else {
        bytes = await inflateRaw(await src.read(start, e.compressedSize), e.size, `${src.label}: entry '${e.name}'`);
        if (!whole) return bytes.subarray(offset, offset + length);
      }
      // The CRC covers the whole entry, so it is checked whenever the whole entry is read.
      if (whole && crc32(bytes) !== e.crc32) bad(src, `entry '${e.name}' fails its CRC-32 check`);
      return bytes;
    },
  };
}

/** Inflates raw deflate data of a known size; more or less output than declared is an error. */
async function inflateRaw(compressed: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let filled = 0;
  try {
    const stream = new Blob([compressed as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.byteLength > size) { await reader.cancel(); throw new WeightsFormatError(what, `inflates to more than the declared ${size} bytes`, { hint: 'the archive is corrupt' }); }
      out.set(value, filled);
      filled += value.byteLength;
    }
  } catch (e) {
    if (e instanceof WeightsFormatError) throw e;
    throw new WeightsFormatError(what, `deflate data is corrupt (${(e as Error).message})`, { hint: 'the archive is corrupt; download it again' });
  }
  if (filled !== size) throw new WeightsFormatError(what, `inflates to ${filled} bytes, expected ${size}`, { hint: 'the archive is corrupt' });
  return out;
}
