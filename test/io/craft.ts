// Builders for hand-crafted test inputs: zip archives and protocol-2 pickles.
import { crc32 } from '../../src/io/crc32.js';

export interface ZipFileSpec {
  name: string;
  data: Uint8Array;
  /** 0 stored (default), 8 deflated, anything else is written as declared (to test rejection). */
  method?: number;
}

export async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A zip archive; `zip64` writes saturated 32-bit fields plus zip64 records, as large archives do. */
export async function buildZip(files: ZipFileSpec[], opts: { zip64?: boolean } = {}): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const method = f.method ?? 0;
    const body = method === 8 ? await deflateRaw(f.data) : f.data;
    const name = enc.encode(f.name);
    const crc = crc32(f.data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true); lv.setUint32(18, body.length, true); lv.setUint32(22, f.data.length, true);
    lv.setUint16(26, name.length, true); lv.setUint16(28, 0, true);
    local.set(name, 30);
    const extra = opts.zip64 ? new Uint8Array(4 + 24) : new Uint8Array(0);
    if (opts.zip64) {
      const xv = new DataView(extra.buffer);
      xv.setUint16(0, 1, true); xv.setUint16(2, 24, true);
      xv.setBigUint64(4, BigInt(f.data.length), true); xv.setBigUint64(12, BigInt(body.length), true); xv.setBigUint64(20, BigInt(offset), true);
    }
    const cen = new Uint8Array(46 + name.length + extra.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 45, true); cv.setUint16(6, 45, true); cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, opts.zip64 ? 0xffffffff : body.length, true);
    cv.setUint32(24, opts.zip64 ? 0xffffffff : f.data.length, true);
    cv.setUint16(28, name.length, true); cv.setUint16(30, extra.length, true);
    cv.setUint32(42, opts.zip64 ? 0xffffffff : offset, true);
    cen.set(name, 46); cen.set(extra, 46 + name.length);
    central.push(cen);
    chunks.push(local, body);
    offset += local.length + body.length;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  chunks.push(...central);
  if (opts.zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true); rv.setBigUint64(4, 44n, true); rv.setUint16(12, 45, true); rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(files.length), true); rv.setBigUint64(32, BigInt(files.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true); rv.setBigUint64(48, BigInt(cdOffset), true);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true); lv.setBigUint64(8, BigInt(cdOffset + cdSize), true); lv.setUint32(16, 1, true);
    chunks.push(rec, loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, opts.zip64 ? 0xffff : files.length, true); ev.setUint16(10, opts.zip64 ? 0xffff : files.length, true);
  ev.setUint32(12, opts.zip64 ? 0xffffffff : cdSize, true); ev.setUint32(16, opts.zip64 ? 0xffffffff : cdOffset, true);
  chunks.push(eocd);
  return concat(chunks);
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of chunks) { out.set(c, p); p += c.length; }
  return out;
}

/** Minimal protocol-2 pickle writer: enough to express torch state dicts and hostile variants. */
export class Pickler {
  private parts: number[] = [0x80, 2];
  private enc = new TextEncoder();
  op(...bytes: number[]): this { this.parts.push(...bytes); return this; }
  mark(): this { return this.op(0x28); }
  str(s: string): this {
    const b = this.enc.encode(s);
    this.op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24);
    this.parts.push(...b);
    return this;
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    return this.op(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
  }
  global(module: string, name: string): this { this.op(0x63); this.parts.push(...this.enc.encode(`${module}\n${name}\n`)); return this; }
  stackGlobal(module: string, name: string): this { return this.str(module).str(name).op(0x93); }
  tuple(items: number[]): this { this.mark(); for (const i of items) this.int(i); return this.op(0x74); }
  emptyTuple(): this { return this.op(0x29); }
  reduce(): this { return this.op(0x52); }
  /** A `_rebuild_tensor_v2(storage(key, numel), offset, shape, stride, False, OrderedDict())` call. */
  tensor(storageType: string, key: string, numel: number, offset: number, shape: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel).op(0x74).op(0x51);
    this.int(offset).tuple(shape).tuple(stride).op(0x89);
    this.global('collections', 'OrderedDict').emptyTuple().reduce();
    return this.op(0x74).reduce();
  }
  stop(): Uint8Array { return new Uint8Array([...this.parts, 0x2e]); }
}

export interface CraftTensor {
  name: string;
  storageType?: string;
  key: string;
  numel: number;
  offset?: number;
  shape: number[];
  stride?: number[];
}

function contiguous(shape: number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/** A pickle of `OrderedDict([(name, tensor), ...])` with torch's `_metadata` BUILD. */
export function stateDictPickle(tensors: CraftTensor[]): Uint8Array {
  const p = new Pickler().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const t of tensors) p.str(t.name).tensor(t.storageType ?? 'FloatStorage', t.key, t.numel, t.offset ?? 0, t.shape, t.stride ?? contiguous(t.shape));
  p.op(0x75); // SETITEMS
  p.op(0x7d).str('_metadata').global('collections', 'OrderedDict').emptyTuple().reduce().op(0x73).op(0x62); // {'_metadata': OrderedDict()} BUILD
  return p.stop();
}

/** A torch-style checkpoint archive: `<folder>/data.pkl`, `<folder>/data/<key>`, `<folder>/version`. */
export function torchArchive(folder: string, pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { zip64?: boolean; method?: number } = {}): Promise<Uint8Array> {
  const files: ZipFileSpec[] = [{ name: `${folder}/data.pkl`, data: pkl, method: opts.method }];
  for (const [k, v] of Object.entries(storages)) files.push({ name: `${folder}/data/${k}`, data: v, method: opts.method });
  files.push({ name: `${folder}/version`, data: new TextEncoder().encode('3\n') });
  return buildZip(files, opts);
}

export function f32Bytes(values: number[] | Float32Array): Uint8Array {
  const f = Float32Array.from(values);
  return new Uint8Array(f.buffer);
}
