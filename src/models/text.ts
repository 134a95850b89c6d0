// The text tower: open_clip's causal pre-LN transformer, composed from kernels only. Activations
// are [B, T, D] (open_clip permutes to T, B, D internally; that has no numerical effect).
import { ShapeError } from '../errors.js';
import type { Tensor } from '../gpu/tensor.js';
import { attentionCore } from '../kernels/attention.js';
import { tokenEmbedding } from '../kernels/embedding.js';
import { layerNorm } from '../kernels/layernorm.js';
import { linear, matmul, type GemmMath } from '../kernels/gemm/index.js';
import { argmaxPool } from '../kernels/pooling.js';
import type { TextConfig } from './config.js';
import { activationLifecycle, type Capture } from './capture.js';
import type { ParameterStore } from './parameters.js';

/** `math` 'f16': the GEMMs may use f16 arithmetic with f16 weights (autocast; see GemmMath). */
export function encodeTextTensor(p: ParameterStore, cfg: TextConfig, ids: Tensor, capture?: Capture, math: GemmMath = 'f32'): Tensor {
  if (ids.dtype !== 'i32' || ids.shape.length !== 2 || ids.shape[1] !== cfg.contextLength) {
    throw new ShapeError('token ids', `must be i32 [N, ${cfg.contextLength}], got ${ids.dtype} [${ids.shape.join(', ')}]`);
  }
  const eps = cfg.layerNormEps;
  const { emit, done } = activationLifecycle(capture);

  let x = emit('text.embed_plus_pos', tokenEmbedding(ids, p.get('token_embedding.weight'), p.get('positional_embedding')));
  for (let l = 0; l < cfg.layers; l++) {
    const q = `transformer.resblocks.${l}`;
    const w = (name: string) => p.get(`${q}.${name}`);
    const h1 = emit(`text.resblocks.${l}.ln_1`, layerNorm(x, w('ln_1.weight'), w('ln_1.bias'), { eps }));
    const qkv = linear(h1, w('attn.in_proj_weight'), w('attn.in_proj_bias'), { math });
    done(h1);
    const core = attentionCore(qkv, { heads: cfg.heads, causal: true });
    done(qkv);
    let x1: Tensor;
    if (capture) {
      emit(`text.resblocks.${l}.attn`, linear(core, w('attn.out_proj.weight'), w('attn.out_proj.bias'), { math }));
      x1 = linear(core, w('attn.out_proj.weight'), w('attn.out_proj.bias'), { residual: x, math });
    } else {
      // x ← x + out_proj(attn): the residual add rides the GEMM epilogue, in place.
      x1 = linear(core, w('attn.out_proj.weight'), w('attn.out_proj.bias'), { residual: x, out: x, math });
    }
    done(core);
    const h2 = emit(`text.resblocks.${l}.ln_2`, layerNorm(x1, w('ln_2.weight'), w('ln_2.bias'), { eps }));
    const m = linear(h2, w('mlp.c_fc.weight'), w('mlp.c_fc.bias'), { gelu: true, math });
    done(h2);
    let x2: Tensor;
    if (capture) {
      emit(`text.resblocks.${l}.mlp`, linear(m, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'), { math }));
      x2 = linear(m, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'), { residual: x1, math });
    } else {
      x2 = linear(m, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'), { residual: x1, out: x1, math });
    }
    done(m);
    x = emit(`text.resblocks.${l}`, x2);
  }
  const lnf = emit('text.ln_final', layerNorm(x, p.get('ln_final.weight'), p.get('ln_final.bias'), { eps }));
  done(x);
  const pooled = emit('text.pooled', argmaxPool(lnf, ids));
  done(lnf);
  const feat = matmul(pooled, p.get('text_projection'), { math });
  done(pooled);
  return feat;
}
