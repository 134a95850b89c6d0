// The pieces every selfcheck shares: fresh random inputs, poisoned outputs, the error measure,
// and a view of the device that selects the other kernel profile's variants.
import { EchoClipError } from '../errors.js';
import { Rng } from '../autograd/rng.js';
import type { Gpu, KernelProfile, TuningLookup } from '../gpu/device.js';
import { fromF16Array, toF16Array } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import type { CheckResult, SkippedCheck } from './types.js';

export type FloatDType = 'f32' | 'f16';

/** A check that has not run yet: the runner decides (budget) whether it does. */
export interface PlannedCheck {
  /** One line naming the check, used when it is skipped. */
  what: string;
  /** What names the check's results (kernel checks). */
  meta?: CheckMeta;
  run: () => Promise<CheckResult[]>;
}

export interface Plan {
  checks: PlannedCheck[];
  skipped: SkippedCheck[];
}

/** A fresh run seed (crypto where available): every run draws new inputs, and reports the seed. */
export function freshSeed(): number {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto;
  if (c?.getRandomValues) return c.getRandomValues(new Uint32Array(1))[0];
  return (Date.now() ^ Math.floor(Math.random() * 2 ** 32)) >>> 0;
}

/** Hands out a distinct seed per check, derived from the run seed. */
export class Seeds {
  private n = 0;
  constructor(readonly base: number) {}
  next(): number {
    this.n++;
    return (this.base + Math.imul(this.n, 0x9e3779b9)) >>> 0;
  }
}

/** Uniform values in [-scale, scale) + offset. */
export function randomArray(rng: Rng, n: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * scale + offset;
  return out;
}

/** The values an f16 tensor holds for `x` (what a reference must use for f16 inputs). */
export function storedAs(x: Float32Array, dtype: FloatDType): Float32Array {
  return dtype === 'f16' ? fromF16Array(toF16Array(x)) : x;
}

const F16_NAN = 0x7e00;

/** NaN in every element (f32 0x7fc00000, f16 0x7e00): an element the kernel does not write fails. */
function poisonData(dtype: FloatDType, n: number): Float32Array | Uint16Array {
  return dtype === 'f16' ? new Uint16Array(n).fill(F16_NAN) : new Float32Array(n).fill(NaN);
}

/** An output tensor for a launcher's `out`, every element NaN. */
export function poisoned(gpu: Gpu, shape: readonly number[], dtype: FloatDType = 'f32'): Tensor {
  const t = Tensor.empty(gpu, shape, dtype, 'selfcheck.poisoned');
  t.write(poisonData(dtype, t.size));
  return t;
}

/**
 * For launchers that allocate their own outputs (the backward kernels): fills `copies` pool buffers
 * of each output's size class with NaN and returns them to the pool, so the launcher's
 * allocations (LIFO per size class) get poisoned buffers. `assertPoisoned` then proves that the
 * output really was one of them, so a check never silently runs on a zero-filled buffer.
 */
export function poisonPool(gpu: Gpu, outputs: readonly { shape: readonly number[]; dtype?: FloatDType }[], copies = 3): Set<GPUBuffer> {
  const held: Tensor[] = [];
  for (const o of outputs) for (let i = 0; i < copies; i++) held.push(poisoned(gpu, o.shape, o.dtype ?? 'f32'));
  const buffers = new Set(held.map((t) => t.buffer));
  gpu.flush();
  for (const t of held.reverse()) t.release();
  return buffers;
}

export function assertPoisoned(buffers: Set<GPUBuffer>, t: Tensor, what: string): void {
  if (!buffers.has(t.buffer)) {
    throw new EchoClipError(`selfcheck ${what}`, 'the output was not allocated from a poisoned buffer, so unwritten elements could go unnoticed', { hint: 'a bug in the selfcheck harness: report it' });
  }
}

/**
 * A view of `gpu` with another kernelProfile and/or tuning lookup: the launchers that pick a
 * variant through the table (and the backward kernels and models, which have no variant option)
 * then select that profile's kernels, or the variant the lookup forces. Everything else (device,
 * pool, recorder, errors) is the real device's. Tensors made on the view carry it to the launchers.
 */
export function gpuView(gpu: Gpu, over: { profile?: KernelProfile; tuning?: TuningLookup | null }): Gpu {
  const profile = over.profile ?? gpu.kernelProfile;
  if (profile === gpu.kernelProfile && over.tuning === undefined) return gpu;
  return new Proxy(gpu, {
    get(target, key) {
      if (key === 'kernelProfile') return profile;
      if (key === 'tuning' && over.tuning !== undefined) return over.tuning;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A view of `gpu` whose kernelProfile is `profile` (see gpuView). */
export function withProfile(gpu: Gpu, profile: KernelProfile): Gpu {
  return gpuView(gpu, { profile });
}

/** Which profiles select `v` by default: 'software', 'gpu', 'both', or 'forced' (neither). */
export function profileLabel<V>(gpu: Gpu, pick: (g: Gpu) => V, v: V): string {
  const same = (a: V) => JSON.stringify(a) === JSON.stringify(v);
  const sw = same(pick(withProfile(gpu, 'software')));
  const hw = same(pick(withProfile(gpu, 'gpu')));
  return sw && hw ? 'both' : sw ? 'software' : hw ? 'gpu' : 'forced';
}

/** Every variant either profile selects, each with its profile label. */
export function profileVariants<V>(gpu: Gpu, pick: (g: Gpu) => V): { v: V; profile: string }[] {
  const out: { v: V; profile: string }[] = [];
  for (const p of ['software', 'gpu'] as const) {
    const v = pick(withProfile(gpu, p));
    if (!out.some((o) => JSON.stringify(o.v) === JSON.stringify(v))) out.push({ v, profile: profileLabel(gpu, pick, v) });
  }
  return out;
}

/**
 * max |got − want| (Infinity on a length mismatch or any non-finite got where want is finite), and
 * relative to scale = max(1, max |want|).
 */
export function maxErrors(got: ArrayLike<number>, want: ArrayLike<number>): { maxAbs: number; maxRel: number; scale: number; worst: number } {
  if (got.length !== want.length) return { maxAbs: Infinity, maxRel: Infinity, scale: 1, worst: -1 };
  let maxAbs = 0, scale = 0, worst = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    scale = Math.max(scale, Math.abs(w));
    const d = Number.isFinite(g) ? Math.abs(g - w) : Number.isFinite(w) ? Infinity : g === w ? 0 : Infinity;
    if (d > maxAbs || worst < 0) { if (d > maxAbs) maxAbs = d; worst = i; }
  }
  return { maxAbs, maxRel: maxAbs / Math.max(1, scale), scale: Math.max(1, scale), worst };
}

/** What names a check (the identifying fields of its CheckResult). */
export type CheckMeta = Pick<CheckResult, 'group' | 'name' | 'variant' | 'dtype' | 'shape' | 'profile' | 'seed' | 'family'>;

/** One compared output of a check: `tol` applies to maxRelErr ('rel') or maxAbsErr ('abs'). */
export interface Compared {
  /** Suffix for the check name (e.g. '.dweight' of a backward check). */
  part?: string;
  got: ArrayLike<number>;
  want: ArrayLike<number>;
  tol: number;
  tolKind?: 'abs' | 'rel';
}

/**
 * Runs `body` and turns its compared outputs into CheckResults; a thrown error becomes one failed
 * result carrying the error message (so one broken kernel never stops the run).
 */
export async function measure(meta: CheckMeta, body: () => Promise<Compared[]>): Promise<CheckResult[]> {
  const t0 = performance.now();
  try {
    const parts = await body();
    const ms = performance.now() - t0;
    return parts.map((c) => {
      const e = maxErrors(c.got, c.want);
      const tolKind = c.tolKind ?? 'rel';
      const err = tolKind === 'rel' ? e.maxRel : e.maxAbs;
      return { ...meta, name: meta.name + (c.part ?? ''), maxAbsErr: e.maxAbs, maxRelErr: e.maxRel, tol: c.tol, tolKind, pass: err <= c.tol, ms };
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return [{ ...meta, maxAbsErr: Infinity, tol: 0, tolKind: 'abs', pass: false, ms: performance.now() - t0, error: msg }];
  }
}

/** Releases tensors (views and already released ones are fine). */
export function releaseAll(...ts: (Tensor | undefined | null)[]): void {
  for (const t of ts) if (t && !t.isReleased) t.release();
}

export { Rng };
