// Node: a ByteSource over a file handle with positional reads, so tensors are read one at a time
// straight from disk (a 606 MB checkpoint is never held in memory as a whole).
import { open } from 'node:fs/promises';
import { WeightsFormatError } from '../errors.js';
import { checkRange, type ByteSource } from './source.js';

export async function fileByteSource(path: string): Promise<ByteSource> {
  const fh = await open(path, 'r');
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new WeightsFormatError(path, 'is not a regular file', { hint: 'pass a weights file or a directory in the hub layout' });
    size = st.size;
  } catch (e) {
    await fh.close();
    throw e;
  }
  let closed = false;
  return {
    size,
    label: path,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(path, size, offset, length);
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new WeightsFormatError(path, `file shrank while reading (got ${done} of ${length} bytes at ${offset})`, { hint: 'was it modified during loading?' });
        done += bytesRead;
      }
      return buf;
    },
    async close(): Promise<void> {
      if (!closed) { closed = true; await fh.close(); }
    },
  };
}
