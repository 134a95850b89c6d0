// Sanity limits checked before anything is allocated, so a corrupt or hostile header cannot make
// the decoder try to allocate gigabytes.

import { VideoDecodeError } from '../errors.js';

/** Largest accepted frame side in pixels. */
export const MAX_FRAME_DIMENSION = 16384;
/** Default budget for all decoded frames of one call (bytes of 8-bit HxWx3 data). */
export const DEFAULT_MEMORY_BUDGET = 2 * 1024 ** 3;

export function checkFrameDimensions(width: number, height: number, label: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new VideoDecodeError(label, `frame size ${width}x${height} (both sides must be at least 1 pixel)`, { hint: 'the header is corrupt' });
  }
  if (width > MAX_FRAME_DIMENSION || height > MAX_FRAME_DIMENSION) {
    throw new VideoDecodeError(label, `frame size ${width}x${height} exceeds the ${MAX_FRAME_DIMENSION}-pixel limit per side`, {
      hint: 'the header is corrupt, or the video must be downscaled first',
    });
  }
}

/** Refuses to decode `frames` frames of width x height x 3 bytes when that exceeds the budget. */
export function checkMemoryBudget(width: number, height: number, frames: number, budget: number, label: string): void {
  const bytes = width * height * 3 * frames;
  if (bytes > budget) {
    throw new VideoDecodeError(label, `decoding ${frames} frames of ${width}x${height} needs ${fmtBytes(bytes)}, over the ${fmtBytes(budget)} memory budget`, {
      hint: 'select fewer frames (--frames START:STOP:STEP) or raise the memory budget',
    });
  }
}

function fmtBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
