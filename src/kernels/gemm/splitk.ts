// 'splitk' (real GPUs; small M·N with a long K: the text tower's fc2 at M = 77 × prompts, K = 2048,
// and GEMMs whose few output tiles would leave most of the chip idle). K is cut into S slices of
// kChunk values; the slice is a grid dimension, so S times more workgroups run:
//   1. partials: the tiled generator (SPLITK_TILE, 64×128) over k in [s·kChunk, (s+1)·kChunk) writes
//      f32 partial sums into a scratch tensor P [S, batch, M, N] (no epilogue);
//   2. sum: one invocation per 4 columns of a row adds the S partials in slice order (f32, a fixed
//      order: deterministic) and applies the full fused epilogue (bias, GELU, scale, residual,
//      in place included) through generator.ts's storeRow.
// The two dispatches are recorded back to back; the scratch comes from the buffer pool and is
// released once both are recorded.
import type { Gpu } from '../../gpu/device.js';
import { Tensor } from '../../gpu/tensor.js';
import { cachedWgsl, foldWorkgroups, WGSL_ERF, wgslEnableF16, wgslFoldedMain } from '../wgsl.js';
import { bindings, epilogue, gemmParams, PARAMS } from './generator.js';
import { SPLITK_TILE } from './tiled.js';
import type { GemmCall, GemmKey } from './types.js';

/**
 * Slice choice. WebGPU reports no compute-unit count, so the target assumes a large discrete GPU
 * (~128 SMs/CUs, ~4 workgroups each); no real-GPU measurements tune these yet.
 */
export const SPLITK_TARGET_WORKGROUPS = 512;
export const SPLITK_MAX_SLICES = 16;
/** Fewer K values per slice would make the partial traffic (S·M·N floats) rival the GEMM's own. */
export const SPLITK_MIN_CHUNK = 256;

/** Slices and K values per slice (a multiple of the tile's TK, so slices stay vec4-aligned). */
export function splitKPlan(gpu: Gpu, M: number, N: number, K: number, batch: number): { slices: number; kChunk: number } {
  const tiles = Math.ceil(M / SPLITK_TILE.tm) * Math.ceil(N / SPLITK_TILE.tn) * batch;
  const sliceBytes = Math.max(1, batch * M * N * 4);
  const byBinding = Math.floor(Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize) / sliceBytes);
  const want = Math.min(SPLITK_MAX_SLICES, Math.floor(K / SPLITK_MIN_CHUNK), Math.ceil(SPLITK_TARGET_WORKGROUPS / tiles), byBinding);
  const tk = SPLITK_TILE.tk;
  const kChunk = Math.max(tk, Math.ceil(Math.ceil(K / Math.max(1, want)) / tk) * tk);
  return { slices: Math.max(1, Math.ceil(K / kChunk)), kChunk };
}

/** WGSL of the summing pass: P [S, batch·M, N] → epilogue → C. */
export const splitKSumWgsl = cachedWgsl((k: GemmKey): { code: string; storage: ('read' | 'read_write')[] } => {
  const f16 = [k.tC, k.bias ? k.tBias : 'f32', k.scale ? k.tScale : 'f32', k.residual === 'separate' ? k.tR : 'f32'].includes('f16');
  const b = bindings(k, 'partials');
  // Whole vec4 when N % 4 == 0; else 4 clamped scalars (storeRow drops the columns past N).
  const load = k.vecC ? 'ld4_P(base + c0)' : `vec4f(${[0, 1, 2, 3].map((j) => `ld_P(base + min(c0 + ${j}u, p.N - 1u))`).join(', ')})`;
  const code = wgslEnableF16(f16) + PARAMS.code + b.code + (k.gelu ? WGSL_ERF : '') + epilogue(k) + wgslFoldedMain(64) + /* wgsl */ `
  let ncq = (p.N + 3u) / 4u;
  if (gid >= p.batch * p.M * ncq) { return; }
  let bm = gid / ncq;
  let c0 = (gid - bm * ncq) * 4u;
  let total = p.batch * p.M * p.N;
  var acc = vec4f(0.0);
  for (var s = 0u; s < p.slices; s++) {
    let base = s * total + bm * p.N;
    acc += ${load};
  }
  // C is [batch, M, N] contiguous: row bm of batch 0 is row m of batch b.
  storeRow(0u, bm, c0, acc, epilogueCols(c0));
}
`;
  return { code, storage: b.storage };
});

/** Records one GEMM dispatch of `key` into `out` (record.ts's path, passed in to avoid an import cycle). */
export type GemmDispatcher = (gpu: Gpu, g: GemmCall, key: GemmKey, d: { out: Tensor; slices: number; kChunk: number; label: string }) => void;

/** The split-K record hook: partials, then the summing epilogue pass. */
export function recordSplitK(gpu: Gpu, g: GemmCall, key: GemmKey, dispatch: GemmDispatcher): void {
  const { M, N, K, batch, epilogue: e } = g;
  const { slices, kChunk } = splitKPlan(gpu, M, N, K, batch);
  const partials = Tensor.empty(gpu, [slices, batch, M, N], 'f32', `${g.name}.splitk-partials`);
  const partialKey: GemmKey = { ...key, bias: false, gelu: false, scale: false, residual: 'none', tBias: 'f32', tScale: 'f32', tR: 'f32', tC: 'f32' };
  dispatch(gpu, g, partialKey, { out: partials, slices, kChunk, label: 'splitk-partial' });
  const { code, storage } = splitKSumWgsl(key);
  const binds = [partials, ...(key.bias ? [e.bias!] : []), ...(key.scale ? [e.scale!] : []), ...(key.residual === 'separate' ? [e.residual!] : []), g.out];
  gpu.dispatch({
    kernel: { name: `${g.name}/splitk-sum`, code, storage, uniformBytes: PARAMS.bytes },
    bindings: binds,
    uniforms: gemmParams(g, 1, slices, kChunk),
    workgroups: foldWorkgroups(Math.ceil((batch * M * Math.ceil(N / 4)) / 64), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  partials.release();
}
