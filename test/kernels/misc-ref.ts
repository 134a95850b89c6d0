// CPU references and layout helpers shared by the norm/attention/misc kernel tests (float64 math).

/** [N, C, H, W] → [N, H, W, C]. */
export function nchwToNhwc(x: ArrayLike<number>, N: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < H * W; s++) out[(n * H * W + s) * C + c] = x[(n * C + c) * H * W + s];
  return out;
}

/** Swaps the first two axes of a [A, B, D] array ([T, B, D] ↔ [B, T, D]). */
export function swap01(x: ArrayLike<number>, A: number, B: number, D: number): Float32Array {
  const out = new Float32Array(A * B * D);
  for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[(b * A + a) * D + d] = x[(a * B + b) * D + d];
  return out;
}

export function layerNormRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, C: number, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[r * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - m) * rstd * w[c] + b[c];
  }
  return out;
}

/** Softmax over rows of `C` (float64), optional causal mask for [.., T, T] rows (j > i → -inf). */
export function softmaxRef(x: ArrayLike<number>, C: number, causalT = 0): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    const lim = causalT ? (r % causalT) + 1 : C;
    let m = -Infinity;
    for (let c = 0; c < lim; c++) m = Math.max(m, x[r * C + c]);
    let s = 0;
    for (let c = 0; c < lim; c++) s += Math.exp(x[r * C + c] - m);
    for (let c = 0; c < C; c++) out[r * C + c] = c < lim ? Math.exp(x[r * C + c] - m) / s : 0;
  }
  return out;
}

/** Causal (or full) attention core on packed qkv [B, T, 3D] → [B, T, D], float64. */
export function attentionRef(qkv: ArrayLike<number>, B: number, T: number, D: number, heads: number, causal: boolean): Float32Array {
  const dh = D / heads;
  const out = new Float32Array(B * T * D);
  const scale = 1 / Math.sqrt(dh);
  const at = (b: number, t: number, part: number, h: number, d: number) => qkv[(b * T + t) * 3 * D + part * D + h * dh + d];
  for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let i = 0; i < T; i++) {
    const lim = causal ? i + 1 : T;
    const s = new Float64Array(lim);
    let m = -Infinity;
    for (let j = 0; j < lim; j++) {
      let dot = 0;
      for (let d = 0; d < dh; d++) dot += at(b, i, 0, h, d) * scale * at(b, j, 1, h, d);
      s[j] = dot;
      m = Math.max(m, dot);
    }
    let z = 0;
    for (let j = 0; j < lim; j++) { s[j] = Math.exp(s[j] - m); z += s[j]; }
    for (let d = 0; d < dh; d++) {
      let acc = 0;
      for (let j = 0; j < lim; j++) acc += s[j] * at(b, j, 2, h, d);
      out[(b * T + i) * D + h * dh + d] = acc / z;
    }
  }
  return out;
}

/** Linear layer x [R, K] · W[N, K]ᵀ + b (float64 accumulation). */
export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, R: number, N: number, K: number): Float32Array {
  const out = new Float32Array(R * N);
  for (let r = 0; r < R; r++) for (let n = 0; n < N; n++) {
    let s = b ? b[n] : 0;
    for (let k = 0; k < K; k++) s += x[r * K + k] * w[n * K + k];
    out[r * N + n] = s;
  }
  return out;
}
