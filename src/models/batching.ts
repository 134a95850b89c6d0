// Micro-batch sizing for the host APIs (encodeImages / encodeTexts): how many frames or prompts go
// through a tower per GPU pass. The size follows the adapter: a software adapter gains nothing from
// large batches (it is a CPU) and runs them out of host RAM, while a real GPU sits mostly idle at a
// few frames per pass. Pure functions, so the policy is unit-tested without a device.
import { GpuOutOfMemoryError, UsageError } from '../errors.js';

/** Software adapters: the largest activation of a pass within 16 MiB (≈ 2 frames, 26 prompts). */
export const SOFTWARE_ACTIVATION_BUDGET = 16 * 2 ** 20;
/**
 * Real GPUs: 512 MiB for the largest activation (image: 81 frames at 6.4 MB each; text: 832
 * prompts at 631 KB). The whole pass holds about three such buffers, so ~1.5 GiB — what any
 * discrete GPU and most integrated ones can give — while passing the ≥ 64 frames / ≥ 256 prompts
 * that fill a large card. Raise it with `activationBudget` / `--memory` on cards with more memory.
 */
export const GPU_ACTIVATION_BUDGET = 512 * 2 ** 20;

export interface AdapterBatchLimits {
  /** Software/fallback adapter (lavapipe, SwiftShader, WARP). */
  fallback: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface MicroBatchRequest {
  /** Items the caller gave. */
  items: number;
  /** Bytes of the largest activation per item (one frame's / one prompt's MLP hidden layer). */
  bytesPerItem: number;
  limits: AdapterBatchLimits;
  /** Caller's budget for the largest activation, in bytes (default: by adapter). */
  activationBudget?: number;
  /** Caller's explicit micro-batch (still bounded by the device's buffer limits). */
  microBatch?: number;
}

export interface MicroBatchPlan {
  size: number;
  /** What bounded it: the items given, the budget, or a device buffer limit. */
  boundBy: 'items' | 'budget' | 'microBatch' | 'maxStorageBufferBindingSize' | 'maxBufferSize';
  budget: number;
}

export function defaultActivationBudget(limits: AdapterBatchLimits): number {
  return limits.fallback ? SOFTWARE_ACTIVATION_BUDGET : GPU_ACTIVATION_BUDGET;
}

/** Items per pass: the budget (or an explicit size), never past a buffer the device can bind. */
export function planMicroBatch(r: MicroBatchRequest): MicroBatchPlan {
  if (!(r.bytesPerItem > 0)) throw new UsageError('micro-batch', `bytes per item must be positive, got ${r.bytesPerItem}`);
  if (r.activationBudget !== undefined && !(Number.isFinite(r.activationBudget) && r.activationBudget > 0)) {
    throw new UsageError('activationBudget', `must be a positive number of bytes, got ${r.activationBudget}`, { hint: "e.g. 2 ** 30, or --memory 1GiB" });
  }
  if (r.microBatch !== undefined && !(Number.isInteger(r.microBatch) && r.microBatch >= 1)) {
    throw new UsageError('microBatch', `must be an integer >= 1, got ${r.microBatch}`);
  }
  const budget = r.activationBudget ?? defaultActivationBudget(r.limits);
  const candidates: [number, MicroBatchPlan['boundBy']][] = [
    [r.microBatch ?? Math.floor(budget / r.bytesPerItem), r.microBatch !== undefined ? 'microBatch' : 'budget'],
    [Math.floor(r.limits.maxStorageBufferBindingSize / r.bytesPerItem), 'maxStorageBufferBindingSize'],
    [Math.floor(r.limits.maxBufferSize / r.bytesPerItem), 'maxBufferSize'],
    [r.items, 'items'],
  ];
  let best = candidates[0];
  for (const c of candidates) if (c[0] < best[0]) best = c;
  return { size: Math.max(1, best[0]), boundBy: best[1], budget };
}

/**
 * Parses a memory size as the CLI takes it (`--memory 512MiB`, `2GiB`, `1.5G`, `800M`, bytes):
 * binary units (K/M/G/T with or without "iB"), as GPU memory is counted.
 */
export function parseByteSize(text: string, what = '--memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(what, `'${text}' is not a size`, { hint: 'e.g. 512MiB, 2GiB, 1.5G or a number of bytes' });
  const unit = m[2].toLowerCase();
  if (!unit && m[3] && m[3].toLowerCase() === 'ib') throw new UsageError(what, `'${text}' is not a size`, { hint: 'e.g. 512MiB, 2GiB, 1.5G or a number of bytes' });
  const bytes = Math.floor(Number(m[1]) * 1024 ** ' kmgt'.indexOf(unit || ' '));
  if (!(bytes >= 1)) throw new UsageError(what, `'${text}' must be at least 1 byte`);
  return bytes;
}

/** A chunk runner: processes items [start, start + count) and writes their results. */
export type ChunkRunner = (start: number, count: number) => Promise<void>;

export interface RunChunksOptions {
  /** Called after each chunk with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Called when a chunk ran out of GPU memory and the size was halved (before the retry). */
  onHalve?: (from: number, to: number, error: GpuOutOfMemoryError) => void;
  /** Frees what a failed chunk left behind (the buffer pool's idle buffers) before the retry. */
  recover?: () => void;
  /** Names the option to raise/lower in the final error, e.g. "activationBudget / --memory". */
  option?: string;
}

/**
 * Runs `n` items in chunks of `size`; a chunk that fails with GpuOutOfMemoryError is retried at
 * half the size (the smaller size is kept for the rest). At size 1 the error is re-thrown, naming
 * the option; every other error goes to the caller unchanged.
 */
export async function runChunks(n: number, size: number, run: ChunkRunner, opts: RunChunksOptions = {}): Promise<number> {
  let mb = Math.max(1, Math.floor(size));
  for (let i = 0; i < n; ) {
    const m = Math.min(mb, n - i);
    try {
      await run(i, m);
    } catch (e) {
      if (!(e instanceof GpuOutOfMemoryError)) throw e;
      opts.recover?.();
      if (m <= 1) {
        throw new GpuOutOfMemoryError(e.what, `out of GPU memory even at one item per pass: ${e.message}`, { hint: `use f16 weights, free other GPU work, or lower ${opts.option ?? 'the micro-batch'}`, cause: e });
      }
      const half = Math.max(1, m >> 1);
      opts.onHalve?.(m, half, e);
      mb = half;
      continue;
    }
    i += m;
    opts.onProgress?.(i, n);
  }
  return mb;
}

