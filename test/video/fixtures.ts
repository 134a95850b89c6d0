// Test-only access to ../shared (read-only reference data): golden tensors and comparison helpers.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import path from 'node:path';
import type { HostTensor } from '../../src/io/dtype.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { VideoDecodeError } from '../../src/errors.js';
import { expect } from 'vitest';
import type { EncodedFrame } from '../../src/video/container.js';
import { readVideo, readVideoAsync } from '../../src/video/video.js';

export const SHARED = process.env.ECHOCLIP_SHARED ?? path.resolve(import.meta.dirname, '../../../shared');
export const sharedPath = (...parts: string[]): string => path.join(SHARED, ...parts);
export const readShared = (...parts: string[]): Uint8Array => new Uint8Array(readFileSync(sharedPath(...parts)));

export interface Golden {
  metadata: Readonly<Record<string, string>>;
  get(name: string): HostTensor;
  u8(name: string): Uint8Array;
  f32(name: string): Float32Array;
  i32(name: string): Int32Array;
}

/** Every tensor of a golden file, read with the library's safetensors reader. */
export async function loadGolden(file: string): Promise<Golden> {
  const src = await parseSafetensors(readShared('fixtures', file), file);
  const tensors = new Map<string, HostTensor>();
  for (const info of src.tensors) tensors.set(info.name, await src.read(info.name));
  const get = (name: string): HostTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`golden ${file} has no tensor ${name}`);
    return t;
  };
  const typed = <T>(name: string, dtype: string): T => {
    const t = get(name);
    if (t.dtype !== dtype) throw new Error(`${name} is ${t.dtype}, expected ${dtype}`);
    return t.data as T;
  };
  return {
    metadata: src.metadata,
    get,
    u8: (name) => typed<Uint8Array>(name, 'U8'),
    f32: (name) => typed<Float32Array>(name, 'F32'),
    i32: (name) => typed<Int32Array>(name, 'I32'),
  };
}

/** max |a-b|, count of differing elements, and the exact-match fraction. */
export function compareU8(a: Uint8Array, b: Uint8Array): { maxDiff: number; meanDiff: number; exact: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > max) max = d;
    sum += d;
    if (d === 0) same++;
  }
  return { maxDiff: max, meanDiff: sum / a.length, exact: same / a.length };
}

/** Exact equality of two typed arrays without vitest's (very slow) diff of huge arrays on failure. */
export function expectSameArray(a: ArrayLike<number>, b: ArrayLike<number>, what = 'arrays'): void {
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} vs ${b.length}`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad > 0) throw new Error(`${what}: ${bad} of ${a.length} elements differ; first at ${first}: ${a[first]} vs ${b[first]}`);
}

/** Runs `f`, which must throw a VideoDecodeError; returns it for message checks. */
export function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VideoDecodeError);
    return e as Error;
  }
  throw new Error('expected a VideoDecodeError');
}

/** Fuzz check: mutated bytes either decode to a well-formed first frame or fail with a VideoDecodeError. */
export function decodesOrRejects(bytes: Uint8Array): void {
  try {
    const r = readVideo(bytes, { frames: '0:1' });
    expect(r.frames[0]!.data.length).toBe(r.frames[0]!.width * r.frames[0]!.height * 3);
  } catch (e) {
    if (!(e instanceof VideoDecodeError)) throw e;
  }
}

/** The encoded bytes of a demuxed frame (stream pictures have none of their own). */
export function payload(f: EncodedFrame): Uint8Array {
  if (f.kind === 'stream') throw new Error('a stream picture has no payload of its own');
  return f.bytes;
}

/**
 * The async fuzz harness's input: a copy of one seed file with 1–6 bytes set at positions from
 * `from` on (relative, so every seed size is covered), optionally truncated.
 */
export function mutatedSeed(seeds: readonly Uint8Array[], from = 0): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([which, edits, cut]) => {
      let b = seeds[which]!.slice();
      for (const [at, v] of edits) b[from + Math.floor(at * (b.length - 1 - from))] = v;
      return cut === undefined ? b : b.subarray(0, cut % b.length);
    });
}

/** Reads the first frame (whole RGB) or fails with a VideoDecodeError; true when it decoded. */
export async function decodesOrRejectsAsync(b: Uint8Array): Promise<boolean> {
  try {
    const r = await readVideoAsync(b, { frames: '0:1' });
    expect(r.frames[0]!.data.length).toBe(r.frames[0]!.width * r.frames[0]!.height * 3);
    return true;
  } catch (e) {
    if (!(e instanceof VideoDecodeError)) throw e;
    return false;
  }
}
