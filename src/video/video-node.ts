// Node-only file access for the video module (kept apart so browser bundles never import node:fs).

import { readFile, stat } from 'node:fs/promises';
import { VideoDecodeError } from '../errors.js';
import { type DecodedVideo, type PreprocessOptions, type PreprocessedVideo, type ReadVideoOptions, preprocessVideoAsync, readVideoAsync } from './video.js';

/** Largest video file read into memory. */
export const MAX_VIDEO_FILE_BYTES = 4 * 1024 ** 3 - 1;

export async function readVideoFileBytes(path: string): Promise<Uint8Array> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new VideoDecodeError(path, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'check the path', cause: e });
  }
  if (size > MAX_VIDEO_FILE_BYTES) throw new VideoDecodeError(path, `file is ${size} bytes, over the ${MAX_VIDEO_FILE_BYTES}-byte limit`, { hint: 'split the video' });
  const buf = await readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export async function readVideoFile(path: string, options: ReadVideoOptions = {}): Promise<DecodedVideo> {
  return readVideoAsync(await readVideoFileBytes(path), { label: path, ...options });
}

export async function preprocessVideoFile(path: string, options: PreprocessOptions = {}): Promise<PreprocessedVideo> {
  return preprocessVideoAsync(await readVideoFileBytes(path), { label: path, ...options });
}
