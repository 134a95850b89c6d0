import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/io/crc32.js';

/** Bit-at-a-time reference (the definition). */
function crcRef(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) { c ^= b; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; }
  return ~c >>> 0;
}

describe('crc32', () => {
  it('matches the standard check value and the bitwise definition at every length', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const data = Uint8Array.from({ length: 100 }, (_, i) => (i * 97 + 13) & 0xff);
    for (let n = 0; n <= data.length; n++) expect(crc32(data.subarray(0, n))).toBe(crcRef(data.subarray(0, n)));
    expect(crc32(data.subarray(37), crc32(data.subarray(0, 37)))).toBe(crcRef(data)); // continuation
  });
});
