import { describe, expect, it } from 'vitest';
import { openPytorch, parsePytorch } from '../../src/io/torch.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { fileByteSource } from '../../src/io/file-node.js';
import { blobByteSource, memoryByteSource } from '../../src/io/source.js';
import { openTensorSource } from '../../src/io/weights.js';
import { openAsBlob } from 'node:fs';
import { fixtureBytes, fixturePath, MODELS } from './helpers.js';
import { WeightsFormatError } from '../../src/errors.js';
import { toFloat32 } from '../../src/io/dtype.js';
import type { HostTensor } from '../../src/io/dtype.js';
import { buildZip, f32Bytes, Pickler, stateDictPickle, torchArchive } from './craft.js';

describe.each(MODELS)('%s: .bin and .safetensors hold identical tensors', (model) => {
  it('same names, order, dtypes, shapes and bytes', async () => {
    const bin = await openPytorch(await fileByteSource(fixturePath(model, 'open_clip_pytorch_model.bin')));
    const st = await parseSafetensors(fixtureBytes(model, 'open_clip_model.safetensors'));
    expect(bin.format).toBe('pytorch');
    expect(bin.tensors.length).toBe(94);
    expect(bin.tensors.map((t) => t.name)).toEqual(st.tensors.map((t) => t.name));
    for (const t of bin.tensors) {
      const a = await bin.read(t.name);
      const b = await st.read(t.name);
      expect(a.dtype).toBe('F32');
      expect(a.shape).toEqual(b.shape);
      expect(a.shape).toEqual([...t.shape]);
      expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength))).toBe(true);
    }
    await bin.close();
  });

  it('reads through a Blob (browser File / fs.openAsBlob) with ranged reads', async () => {
    const blob = await openAsBlob(fixturePath(model, 'open_clip_pytorch_model.bin'));
    const viaBlob = await openTensorSource(blobByteSource(blob, 'model.bin'));
    const st = await parseSafetensors(fixtureBytes(model, 'open_clip_model.safetensors'));
    expect(viaBlob.format).toBe('pytorch');
    const a = await viaBlob.read('token_embedding.weight'), b = await st.read('token_embedding.weight');
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength))).toBe(true);
  });
});

async function expectFormatError(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err, `expected WeightsFormatError matching ${re}`).toBeInstanceOf(WeightsFormatError);
  expect((err as Error).message).toMatch(re);
}

/** Opens a crafted archive and reads every tensor. */
async function loadAll(bytes: Uint8Array): Promise<Record<string, HostTensor>> {
  const src = await parsePytorch(bytes, 'crafted.bin');
  const out: Record<string, HostTensor> = {};
  for (const t of src.tensors) out[t.name] = await src.read(t.name);
  return out;
}

const iota = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('crafted PyTorch archives', () => {
  it('materialises storage offsets, transposed and expanded views, and storages shared by two tensors', async () => {
    const pkl = stateDictPickle([
      { name: 'a', key: '0', numel: 24, shape: [2, 3] }, // contiguous at offset 0
      { name: 'a_off', key: '0', numel: 24, offset: 6, shape: [3, 2] }, // contiguous at offset 6
      { name: 'a_t', key: '0', numel: 24, offset: 12, shape: [4, 3], stride: [1, 4] }, // transpose of a [3,4] block
      { name: 'a_exp', key: '0', numel: 24, offset: 1, shape: [2, 3], stride: [0, 2] }, // expanded row
      { name: 'scalar', key: '1', numel: 1, shape: [] },
      { name: 'empty', key: '2', numel: 0, shape: [0, 5] },
      { name: 'half', storageType: 'HalfStorage', key: '3', numel: 2, shape: [2] },
      { name: 'ids', storageType: 'LongStorage', key: '4', numel: 3, shape: [3] },
    ]);
    const ids = new BigInt64Array([5n, -7n, 49407n]);
    const bytes = await torchArchive('archive', pkl, {
      0: f32Bytes(iota(24)), 1: f32Bytes([2.5]), 2: new Uint8Array(0),
      3: new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer), 4: new Uint8Array(ids.buffer),
    });
    const t = await loadAll(bytes);
    expect([...t.a.data]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...t.a_off.data]).toEqual([6, 7, 8, 9, 10, 11]);
    expect(t.a_t.shape).toEqual([4, 3]);
    expect([...t.a_t.data]).toEqual([12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23]);
    expect([...t.a_exp.data]).toEqual([1, 3, 5, 1, 3, 5]);
    expect(t.scalar.shape).toEqual([]);
    expect([...t.scalar.data]).toEqual([2.5]);
    expect(t.empty.data.length).toBe(0);
    expect(t.half.dtype).toBe('F16');
    expect([...toFloat32(t.half)]).toEqual([1, -2]);
    expect(t.ids.dtype).toBe('I32');
    expect([...t.ids.data]).toEqual([5, -7, 49407]);
  });

  it('reads deflated entries, zip64 archives, and unwraps {"state_dict": ...} with module. prefixes', async () => {
    const pkl = stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [4] }]);
    for (const opts of [{ method: 8 }, { zip64: true }]) {
      const t = await loadAll(await torchArchive('model', pkl, { 0: f32Bytes([1, 2, 3, 4]) }, opts));
      expect([...t.w.data]).toEqual([1, 2, 3, 4]);
    }
    const little = await buildZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/byteorder', data: new TextEncoder().encode('little') }, { name: 'archive/data/0', data: f32Bytes([1, 2, 3, 4]) }]);
    expect([...(await loadAll(little)).w.data]).toEqual([1, 2, 3, 4]);
    // {'state_dict': OrderedDict(module.w=...), 'epoch': 3}
    const p = new Pickler().op(0x7d).mark().str('state_dict').global('collections', 'OrderedDict').emptyTuple().reduce()
      .str('module.w').tensor('FloatStorage', '0', 4, 0, [2, 2], [2, 1]).op(0x73).str('epoch').int(3).op(0x75).stop();
    const src = await parsePytorch(await torchArchive('ckpt', p, { 0: f32Bytes([1, 2, 3, 4]) }));
    expect(src.tensors.map((x) => x.name)).toEqual(['w']);
    expect([...(await src.read('w')).data]).toEqual([1, 2, 3, 4]);
  });

  it('rejects foreign globals (GLOBAL and STACK_GLOBAL) by name, without executing anything', async () => {
    const hostile = [
      [new Pickler().global('posix', 'system').str('echo pwned').op(0x85).reduce().stop(), /'posix\.system'/],
      [new Pickler().stackGlobal('os', 'system').str('echo pwned').op(0x85).reduce().stop(), /'os\.system'/],
      [new Pickler().stackGlobal('builtins', 'eval').str('1+1').op(0x85).reduce().stop(), /'builtins\.eval'/],
      [new Pickler().global('torch', 'load').stop(), /'torch\.load'/],
    ] as const;
    for (const [pkl, re] of hostile) {
      await expectFormatError(parsePytorch(await torchArchive('archive', pkl, {})), re);
      await expectFormatError(parsePytorch(await torchArchive('archive', pkl, {})), /not allowed/);
    }
  });

  it('rejects malformed pickles and archives with WeightsFormatError', async () => {
    const good = stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [4] }]);
    const store = { 0: f32Bytes([1, 2, 3, 4]) };
    const cases: Array<[Promise<Uint8Array>, RegExp]> = [
      [torchArchive('archive', good.subarray(0, good.length - 30), store), /truncated|underflow|MARK/],
      [torchArchive('archive', new Pickler().op(0x81).stop(), store), /unsupported pickle opcode 0x81/], // NEWOBJ
      [torchArchive('archive', new Pickler().op(0x68, 9).stop(), store), /memo entry 9/],
      [torchArchive('archive', new Pickler().int(5).stop(), store), /does not hold a dict/],
      [torchArchive('archive', new Pickler().op(0x7d).str('x').int(1).op(0x73).stop(), store), /'x' is not a tensor/],
      [torchArchive('archive', new Pickler().global('collections', 'OrderedDict').emptyTuple().reduce().op(0x7d).str('evil').int(1).op(0x73).op(0x62).stop(), store), /BUILD state/],
      [torchArchive('archive', stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [5] }]), store), /reaches element 4/],
      [torchArchive('archive', stateDictPickle([{ name: 'w', key: '9', numel: 4, shape: [4] }]), store), /storage entry 'archive\/data\/9' is missing/],
      [torchArchive('archive', stateDictPickle([{ name: 'w', key: '0', numel: 8, shape: [8] }]), store), /is 16 bytes, expected 8/],
      [torchArchive('archive', stateDictPickle([{ name: 'w', storageType: 'ComplexFloatStorage', key: '0', numel: 4, shape: [4] }]), store), /'torch\.ComplexFloatStorage'/],
      [buildZip([{ name: 'archive/weights.txt', data: new Uint8Array(4) }]), /no <folder>\/data\.pkl/],
      [buildZip([{ name: 'archive/data.pkl', data: good }, { name: 'archive/byteorder', data: new TextEncoder().encode('big') }, { name: 'archive/data/0', data: store[0] }]), /big-endian/],
      [buildZip([{ name: 'archive/data.pkl', data: good, method: 12 }]), /compression method 12/],
      [torchArchive('archive', stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [1_000_000_000], stride: [0] }]), store), /expanded tensor/],
    ];
    for (const [bytes, re] of cases) await expectFormatError(parsePytorch(await bytes), re);
  });

  it('detects corrupt zip structure: bad central directory, truncation, CRC, bad deflate data', async () => {
    const pkl = stateDictPickle([{ name: 'w', key: '0', numel: 4, shape: [4] }]);
    const zip = await torchArchive('archive', pkl, { 0: f32Bytes([1, 2, 3, 4]) });
    const eocd = zip.length - 22;
    const dv = new DataView(zip.buffer);
    const cdOffset = dv.getUint32(eocd + 16, true);

    const badSig = zip.slice(); badSig[cdOffset] ^= 0xff;
    await expectFormatError(parsePytorch(badSig), /central directory entry 0 is malformed/);
    const badOffset = zip.slice(); new DataView(badOffset.buffer).setUint32(eocd + 16, zip.length, true);
    await expectFormatError(parsePytorch(badOffset), /central directory/);
    const badCount = zip.slice(); new DataView(badCount.buffer).setUint16(eocd + 10, 5000, true);
    await expectFormatError(parsePytorch(badCount), /cannot hold 5000 entries/);
    await expectFormatError(parsePytorch(zip.subarray(0, zip.length - 10)), /end-of-central-directory/);
    await expectFormatError(parsePytorch(zip.subarray(0, 100)), /end-of-central-directory/);
    await expectFormatError(parsePytorch(new Uint8Array(0)), /too short/);
    // Flip a data byte of the storage: caught by the CRC when the tensor is read.
    const at = Buffer.from(zip).indexOf(Buffer.from(f32Bytes([1, 2, 3, 4])));
    expect(at).toBeGreaterThan(0);
    const flipped = zip.slice(); flipped[at + 5] ^= 0x01;
    const src = await parsePytorch(flipped);
    await expectFormatError(src.read('w'), /CRC-32/);
    // Corrupt deflate stream.
    const deflated = await torchArchive('archive', pkl, { 0: f32Bytes([1, 2, 3, 4]) }, { method: 8 });
    const d = deflated.slice(); d.fill(0xff, 40, 60);
    await expectFormatError(parsePytorch(d), /deflate|CRC|inflates|pickle/);
    // A deflated entry whose declared size is impossible for its compressed size (zip bomb).
    const bomb = deflated.slice();
    const bdv = new DataView(bomb.buffer);
    const cd = bdv.getUint32(bomb.length - 22 + 16, true);
    bdv.setUint32(cd + 24, 0x7fffffff, true);
    await expectFormatError(parsePytorch(bomb), /declares 2147483647 bytes/);
  });

  it('gives the legacy-format hint for pre-1.6 torch.save files', async () => {
    await expectFormatError(openTensorSource(memoryByteSource(new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]))), /legacy/);
  });
});
