import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WeightsFormatError } from '../../src/errors.js';
import type { HostTensor } from '../../src/io/dtype.js';
import { fileByteSource } from '../../src/io/file-node.js';
import { MAX_HEADER_BYTES, openSafetensors, parseSafetensors, planSafetensors, serializeSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { concat } from './craft.js';
import { fixtureBytes, fixturePath } from './helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'echoclip-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A file from a raw header object and data section. */
function rawFile(header: unknown, data = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  return concat([len, json, data]);
}

/** A file whose header is the given raw bytes. */
function rawBytes(header: Uint8Array): Uint8Array {
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(header.length), true);
  return concat([len, header]);
}

async function expectFormatError(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err, `expected WeightsFormatError matching ${re}`).toBeInstanceOf(WeightsFormatError);
  expect((err as Error).message).toMatch(re);
}

describe('safetensors writer + reader', () => {
  const tensors: Record<string, HostTensor> = {
    u8: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 255]) },
    f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) },
    f16: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
    i32: { dtype: 'I32', shape: [2], data: new Int32Array([-5, 2 ** 31 - 1]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
    f64: { dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) },
    bf16: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0x4000]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
  };

  it('round-trips every dtype with metadata; data aligned to element size', async () => {
    const bytes = serializeSafetensors(tensors, { note: 'ünïcode ✓' });
    const st = await parseSafetensors(bytes);
    expect(st.metadata).toEqual({ note: 'ünïcode ✓' });
    expect(new DataView(bytes.buffer).getBigUint64(0, true) % 8n).toBe(0n);
    for (const [name, t] of Object.entries(tensors)) {
      const r = await st.read(name);
      expect(r.dtype).toBe(t.dtype);
      expect(r.shape).toEqual(t.shape);
      expect([...r.data]).toEqual([...t.data]);
    }
    // element-size groups, largest first; each offset a multiple of its element size
    const layout = planSafetensors(Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })));
    expect(layout.order.map((e) => e.name)).toEqual(['f64', 'f32', 'i32', 'scalar', 'empty', 'f16', 'bf16', 'u8', 'i8']);
    expect(layout.header.length % 8).toBe(0);
  });

  it('streams the same bytes as the in-memory serializer, and reads back through a Node file handle', async () => {
    const chunks: Uint8Array[] = [];
    const entries = Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    const size = await writeSafetensors(entries, async (n) => tensors[n].data, async (c) => { chunks.push(c.slice()); }, { a: 'b' });
    const streamed = concat(chunks);
    expect(streamed.length).toBe(size);
    expect(Buffer.from(streamed).equals(Buffer.from(serializeSafetensors(tensors, { a: 'b' })))).toBe(true);
    const file = path.join(tmp, 'rt.safetensors');
    writeFileSync(file, streamed);
    const st = await openSafetensors(await fileByteSource(file));
    expect([...(await st.read('f32')).data]).toEqual([...tensors.f32.data]);
    await st.close();
    await expectFormatError(writeSafetensors(entries, async () => new Float32Array(1), async () => undefined), /needs/);
  });

  it('narrows I64 to I32 when the values fit, and rejects values that do not', async () => {
    const ok = rawFile({ ids: { dtype: 'I64', shape: [3], data_offsets: [0, 24] } }, new Uint8Array(new BigInt64Array([1n, -2n, 2147483647n]).buffer));
    const t = await (await parseSafetensors(ok)).read('ids');
    expect(t.dtype).toBe('I32');
    expect([...t.data]).toEqual([1, -2, 2147483647]);
    const big = rawFile({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new BigInt64Array([0n, 2n ** 40n]).buffer));
    await expectFormatError((await parseSafetensors(big)).read('ids'), /1099511627776 at index 1 does not fit in int32/);
  });

  it('reads the fixture weights (94 F32 tensors, metadata)', async () => {
    const st = await parseSafetensors(fixtureBytes('echoclip_tiny', 'open_clip_model.safetensors'));
    expect(st.tensors.length).toBe(94);
    expect(st.metadata.seed).toBe('1000');
    const ls = await st.read('logit_scale');
    expect(ls.shape).toEqual([]);
    expect(Math.abs(ls.data[0] - Math.log(1 / 0.07))).toBeLessThan(0.31);
    const f = await openSafetensors(await fileByteSource(fixturePath('echoclip_tiny', 'open_clip_model.safetensors')));
    expect(Buffer.from((await f.read('token_embedding.weight')).data.buffer).equals(Buffer.from((await st.read('token_embedding.weight')).data.buffer))).toBe(true);
    await f.close();
  });
});

describe('safetensors header validation (before any allocation)', () => {
  const one = (extra: object = {}): object => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...extra } });
  const data8 = new Uint8Array(8);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty file', new Uint8Array(0), /shorter than the 8-byte/],
    ['7 bytes', new Uint8Array(7), /shorter than the 8-byte/],
    ['header length > file', rawFile(one(), data8, 5000n), /larger than the file/],
    ['huge header length', rawFile(one(), data8, BigInt(MAX_HEADER_BYTES) + 1n), /exceeds the 100000000-byte limit/],
    ['u64 max header length', rawFile(one(), data8, 2n ** 64n - 1n), /exceeds/],
    ['invalid JSON', rawFile('{"a": ', data8), /not valid JSON/],
    ['JSON array', rawFile('[1,2,3]', data8), /not a JSON object/],
    ['invalid UTF-8', rawBytes(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /UTF-8/], // {"\xff":1}
    ['unknown dtype', rawFile(one({ dtype: 'F8_E4M3' }), data8), /unsupported dtype "F8_E4M3"/],
    ['shape not integers', rawFile(one({ shape: [2.5] }), data8), /shape/],
    ['negative dim', rawFile(one({ shape: [-2] }), data8), /shape/],
    ['size mismatch', rawFile(one({ shape: [3] }), data8), /hold 8 bytes but F32\[3\] needs 12/],
    ['end before begin', rawFile(one({ data_offsets: [8, 0] }), data8), /data_offsets/],
    ['beyond data section', rawFile(one({ data_offsets: [4, 12] }), data8), /beyond the 8-byte data section/],
    ['offsets not a pair', rawFile(one({ data_offsets: [0] }), data8), /data_offsets/],
    ['overlap', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8), /overlap/],
    ['metadata not strings', rawFile({ __metadata__: { n: 1 } }, data8), /__metadata__\.n/],
    ['entry not an object', rawFile({ a: 5 }, data8), /not an object/],
    ['overflowing shape', rawFile(one({ shape: [2 ** 40, 2 ** 40] }), data8), /too large/],
  ];
  it.each(cases)('%s → WeightsFormatError', async (_name, bytes, re) => {
    await expectFormatError(parseSafetensors(bytes, 'bad.safetensors'), re);
  });

  it('rejects a truncated fixture file (header intact, data cut)', async () => {
    const full = fixtureBytes('echoclip_tiny', 'open_clip_model.safetensors');
    await expectFormatError(parseSafetensors(full.subarray(0, full.length - 1)), /beyond the .*data section/);
    await expectFormatError(parseSafetensors(full.subarray(0, 5000)), /larger than the file/);
  });

  it('names the missing tensor', async () => {
    const st = await parseSafetensors(serializeSafetensors({ a: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } }));
    await expectFormatError(st.read('b'), /no tensor named 'b'/);
  });
});
