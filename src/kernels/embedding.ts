// Token embedding gather + positional add: out[b, t] = weight[ids[b, t]] + pos[t] → [B, T, D] f32.
// The weight may be f16 (the 49408 × 512 token table is 100 MB in f32) where the adapter has
// shader-f16; pos is f32. Kernel behaviour on bad ids: an id outside [0, V) is CLAMPED into range
// so the gather can never read outside the table — silently wrong numbers, which is why ids that
// come from the host must go through validateTokenIds (tokenEmbeddingFromHost does this) first.
import { ShapeError, TokenizerError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { checkFloatTensor, foldWorkgroups, packParams, wgslEnableF16, wgslFloatType, wgslParamsStruct, wgslStorage, type FloatDType, wgslFoldedMain } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['count', 'T', 'D', 'V']);
const WG = 256;

/** WGSL for one embedding configuration (exported for tests). */
export function embeddingWgsl(weightT: FloatDType, vec: boolean): string {
  const V = vec ? 'vec4f' : 'f32';
  // With vec, p.D counts vec4s per row.
  return (
    wgslEnableF16(weightT === 'f16') +
    PARAMS.code +
    wgslStorage(0, 'Ids', 'array<i32>', 'read') +
    wgslStorage(1, 'Wt', `array<${wgslFloatType(weightT, vec)}>`, 'read') +
    wgslStorage(2, 'Pos', `array<${V}>`, 'read') +
    wgslStorage(3, 'Y', `array<${V}>`, 'read_write') +
    /* wgsl */ `@group(0) @binding(4) var<uniform> p: Params;${wgslFoldedMain(WG)}  let o = gid;
  if (o >= p.count) { return; }
  let bt = o / p.D;
  let d = o % p.D;
  let id = u32(clamp(Ids[bt], 0i, i32(p.V) - 1i));
  Y[o] = ${V}(Wt[id * p.D + d]) + Pos[(bt % p.T) * p.D + d];
}
`
  );
}

/**
 * Embeds token ids (i32 [B, T]) with weight [V, D] and positional embedding [Tp, D] (Tp >= T;
 * rows 0..T-1 are used) → f32 [B, T, D]. See the file comment for out-of-range ids.
 */
export function tokenEmbedding(ids: Tensor, weight: Tensor, pos: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const gpu = ids.gpu;
  if (ids.dtype !== 'i32' || ids.shape.length !== 2) throw new ShapeError('tokenEmbedding ids', `must be i32 [B, T], got ${ids.dtype} [${ids.shape.join(', ')}]`);
  checkFloatTensor(gpu, weight, 'tokenEmbedding weight');
  if (weight.shape.length !== 2 || weight.shape[0] === 0) throw new ShapeError('tokenEmbedding weight', `must be [V, D] with V > 0, got [${weight.shape.join(', ')}]`);
  const [B, T] = ids.shape;
  const [Vocab, D] = weight.shape;
  if (pos.dtype !== 'f32' || pos.shape.length !== 2 || pos.shape[1] !== D || pos.shape[0] < T) {
    throw new ShapeError('tokenEmbedding positional embedding', `must be f32 [>= ${T}, ${D}], got ${pos.dtype} [${pos.shape.join(', ')}]`);
  }
  const out = opts.out ?? Tensor.empty(gpu, [B, T, D], 'f32', 'embedding.out');
  if (out.dtype !== 'f32' || out.size !== B * T * D) throw new ShapeError('tokenEmbedding out', `must be f32 [${B}, ${T}, ${D}], got ${out.dtype} [${out.shape.join(', ')}]`);
  if (out.size === 0) return out;
  const vec = D % 4 === 0 && [weight, pos, out].every((t) => t.byteOffset % 16 === 0) && (weight.dtype === 'f32' || weight.byteOffset % 8 === 0);
  const Dv = vec ? D / 4 : D;
  const count = B * T * Dv;
  gpu.dispatch({
    kernel: { name: 'embedding', code: embeddingWgsl(weight.dtype as FloatDType, vec), storage: ['read', 'read', 'read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [ids, weight, pos, out],
    uniforms: packParams(PARAMS.bytes, [count, T, Dv, Vocab]),
    workgroups: foldWorkgroups(Math.ceil(count / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** Throws a TokenizerError naming the first id outside [0, vocabSize) (host-side check). */
export function validateTokenIds(ids: ArrayLike<number>, vocabSize: number, rowLength = ids.length): void {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) {
      const where = rowLength > 0 ? `[${Math.floor(i / rowLength)}, ${i % rowLength}]` : `${i}`;
      throw new TokenizerError('token ids', `id ${v} at ${where} is outside the model's vocabulary [0, ${vocabSize})`, {
        hint: 'tokenize with the tokenizer that belongs to this model (EchoCLIP: CLIP BPE, EchoCLIP-R: template tokenizer)',
      });
    }
  }
}

/** Validates host ids (shape [B, T]), uploads them and embeds them; the id tensor is released. */
export function tokenEmbeddingFromHost(gpu: Gpu, ids: Int32Array, shape: readonly [number, number], weight: Tensor, pos: Tensor): Tensor {
  if (ids.length !== shape[0] * shape[1]) throw new ShapeError('token ids', `has ${ids.length} values but shape [${shape.join(', ')}] needs ${shape[0] * shape[1]}`);
  validateTokenIds(ids, weight.shape[0] ?? 0, shape[1]);
  const t = Tensor.from(gpu, ids, shape, 'i32', 'token-ids');
  const out = tokenEmbedding(t, weight, pos);
  t.release();
  return out;
}
