// Backward of the token + positional embedding. WGSL has no float atomics, so the scatter-add
// into the token table is turned into a gather on an inverted index built on the host (the ids
// come from the host tokenizer anyway): for every distinct id, the list of positions where it
// occurs, in increasing order. One invocation per (distinct id, channel) sums those rows in that
// fixed order, so the result is deterministic; rows of ids that never occur stay exactly zero.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { columnSum } from './matmul-backward.js';
import { dispatchItems, wgslFoldedMain, wgslParamsStruct, wgslStorage } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['U', 'D']);

const WGSL =
  PARAMS.code +
  wgslStorage(0, 'Dy', 'array<f32>', 'read') + wgslStorage(1, 'Rows', 'array<u32>', 'read') + wgslStorage(2, 'Offsets', 'array<u32>', 'read') +
  wgslStorage(3, 'Positions', 'array<u32>', 'read') + wgslStorage(4, 'Dw', 'array<f32>', 'read_write') +
  '@group(0) @binding(5) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
  /* wgsl */ `
  if (gid >= p.U * p.D) { return; }
  let d = gid % p.D;
  let u = gid / p.D;
  var s = 0.0;
  for (var k = Offsets[u]; k < Offsets[u + 1u]; k++) { s += Dy[Positions[k] * p.D + d]; }
  Dw[Rows[u] * p.D + d] = s;
}
`;

/** Inverted index of token ids: distinct ids ascending, CSR offsets, positions (flat b·T + t). */
export function invertIds(ids: Int32Array, vocab: number): { rows: Uint32Array; offsets: Uint32Array; positions: Uint32Array } {
  const count = new Uint32Array(vocab);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new ShapeError('token ids', `id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`, { hint: 'use the tokenizer that matches the model' });
    count[id]++;
  }
  const rowList: number[] = [];
  for (let v = 0; v < vocab; v++) if (count[v]) rowList.push(v);
  const rows = Uint32Array.from(rowList);
  const offsets = new Uint32Array(rows.length + 1);
  const start = new Uint32Array(vocab);
  rows.forEach((v, u) => {
    start[v] = offsets[u];
    offsets[u + 1] = offsets[u] + count[v];
  });
  const positions = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) positions[start[ids[i]]++] = i;
  return { rows, offsets, positions };
}

/**
 * Gradients of tokenEmbedding(ids, weight [V, D], pos [Tp, D]) given dy [B, T, D]: the token table
 * gradient [V, D] (zero rows for absent ids) and the positional one [Tp, D] (zero past T).
 */
export function tokenEmbeddingBackward(gpu: Gpu, ids: Int32Array, idShape: readonly [number, number], dy: Tensor, vocab: number, posRows: number, need: { dweight?: boolean; dpos?: boolean } = {}): { dweight?: Tensor; dpos?: Tensor } {
  const [B, T] = idShape;
  if (ids.length !== B * T) throw new ShapeError('tokenEmbeddingBackward ids', `must hold ${B}×${T} values, got ${ids.length}`);
  if (dy.dtype !== 'f32' || dy.shape.length !== 3 || dy.shape[0] !== B || dy.shape[1] !== T) throw new ShapeError('tokenEmbeddingBackward dy', `must be f32 [${B}, ${T}, D], got ${dy.dtype} [${dy.shape.join(', ')}]`);
  if (posRows < T) throw new ShapeError('tokenEmbeddingBackward', `positional table has ${posRows} rows, fewer than the ${T} positions`);
  const D = dy.shape[2];
  const out: { dweight?: Tensor; dpos?: Tensor } = {};
  if (need.dweight ?? true) {
    const inv = invertIds(ids, vocab);
    out.dweight = Tensor.zeros(gpu, [vocab, D], 'f32', 'embedding.dweight');
    if (inv.rows.length) {
      const rows = Tensor.from(gpu, inv.rows, [inv.rows.length], 'u32');
      const offsets = Tensor.from(gpu, inv.offsets, [inv.offsets.length], 'u32');
      const positions = Tensor.from(gpu, inv.positions, [inv.positions.length], 'u32');
      dispatchItems(gpu, 'embedding-backward', WGSL, [dy, rows, offsets, positions, out.dweight], 1, PARAMS, [inv.rows.length, D], inv.rows.length * D);
      for (const t of [rows, offsets, positions]) t.release();
    }
  }
  if (need.dpos ?? true) {
    out.dpos = posRows === T ? Tensor.empty(gpu, [posRows, D], 'f32', 'embedding.dpos') : Tensor.zeros(gpu, [posRows, D], 'f32', 'embedding.dpos');
    columnSum(dy, { cols: T * D, out: out.dpos.reshape([posRows * D]).slice0(0, T * D) });
  }
  return out;
}
