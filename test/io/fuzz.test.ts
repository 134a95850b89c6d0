// Random corruption of the fixture weights: loading must either succeed or throw an EchoClipError
// subclass — never a RangeError/TypeError, a hang or a crash. Seeded, bounded iterations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EchoClipError } from '../../src/errors.js';
import { memoryByteSource } from '../../src/io/source.js';
import { openTensorSource } from '../../src/io/weights.js';
import { fixtureBytes } from './helpers.js';

async function loadEverything(bytes: Uint8Array): Promise<'ok' | 'error'> {
  try {
    const src = await openTensorSource(memoryByteSource(bytes, 'fuzzed'));
    for (const t of src.tensors) await src.read(t.name);
    return 'ok';
  } catch (e) {
    if (!(e instanceof EchoClipError)) throw new Error(`non-EchoClipError: ${(e as Error)?.stack ?? String(e)}`);
    return 'error';
  }
}

const FILES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin'] as const;

describe.each(FILES)('fuzz: %s', (file) => {
  const bytes = fixtureBytes('echoclip_tiny', file);
  // Structure lives at the start (safetensors header, pickle) and the end (zip central directory):
  // most flips go there, where they exercise parsing rather than just changing weight values.
  const structural = (n: number): fc.Arbitrary<number> => fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: Math.min(n - 1, 20_000) }) },
    { weight: 2, arbitrary: fc.integer({ min: Math.max(0, n - 12_000), max: n - 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: n - 1 }) },
  );

  it('random byte flips → success or an EchoClipError', async () => {
    const outcomes = { ok: 0, error: 0 };
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(structural(bytes.length), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      async (flips) => {
        for (const [at, x] of flips) bytes[at] ^= x;
        try { outcomes[await loadEverything(bytes)]++; } finally { for (const [at, x] of flips.slice().reverse()) bytes[at] ^= x; }
      },
    ), { numRuns: 60, seed: 20261128 });
    expect(outcomes.error).toBeGreaterThan(0);
    expect(await loadEverything(bytes)).toBe('ok'); // restored
  });

  it('random truncations → an EchoClipError', async () => {
    await fc.assert(fc.asyncProperty(structural(bytes.length), async (len) => {
      expect(await loadEverything(bytes.subarray(0, len))).toBe('error');
    }), { numRuns: 40, seed: 7 });
  });
});
