// CPU references for the kernels (float64 accumulation, so they are the more exact side), shared by
// `echoclip selfcheck` and the kernel tests (test/helpers/cpu-ref.ts and test/kernels/misc-ref.ts
// re-export these). Layouts are the kernels' own: NHWC images, tap-major depthwise weights,
// [out, in] Linear weights.

type Arr = ArrayLike<number>;

export function matmulRef(a: Float32Array, b: Float32Array, M: number, N: number, K: number, opts: { transA?: boolean; transB?: boolean; batch?: number; aBatched?: boolean; bBatched?: boolean } = {}): Float32Array {
  const batch = opts.batch ?? 1;
  const out = new Float32Array(batch * M * N);
  // Operands copied into row-of-A / column-of-B order first: the dot product then walks two
  // contiguous Float64Arrays (the full-size checks multiply up to 3136×512×128).
  const ar = new Float64Array(K);
  const bc = new Float64Array(K * N);
  for (let bi = 0; bi < batch; bi++) {
    const ao = opts.aBatched === false ? 0 : bi * M * K;
    const bo = opts.bBatched === false ? 0 : bi * K * N;
    for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) bc[j * K + k] = opts.transB ? b[bo + j * K + k] : b[bo + k * N + j];
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) ar[k] = opts.transA ? a[ao + k * M + i] : a[ao + i * K + k];
      for (let j = 0; j < N; j++) {
        let s = 0;
        const o = j * K;
        for (let k = 0; k < K; k++) s += ar[k] * bc[o + k];
        out[bi * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}

/** Exact GELU with a float64 erf (Abramowitz-Stegun 7.1.26 is too coarse for a reference). */
export function erf64(x: number): number {
  // Series for small |x|, continued fraction (Lentz) for large; both to ~1e-15.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = x, term = x;
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction
  let f = ax, C = ax, D = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    D = ax + an * D; D = 1 / D;
    C = ax + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x >= 0 ? 1 - erfc : erfc - 1;
}

export function geluRef(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

/** d/dx GELU(x) = Φ(x) + x φ(x). */
export function geluGradRef(x: number): number {
  return 0.5 * (1 + erf64(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

/** [N, C, H, W] → [N, H, W, C]. */
export function nchwToNhwc(x: Arr, N: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < H * W; s++) out[(n * H * W + s) * C + c] = x[(n * C + c) * H * W + s];
  return out;
}

/** Swaps the first two axes of a [A, B, D] array ([T, B, D] ↔ [B, T, D]). */
export function swap01(x: Arr, A: number, B: number, D: number): Float32Array {
  const out = new Float32Array(A * B * D);
  for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[(b * A + a) * D + d] = x[(a * B + b) * D + d];
  return out;
}

/** Mean and 1/std (biased variance, two passes in float64) of row r of C values. */
function rowStats(x: Arr, r: number, C: number, eps: number): { m: number; rstd: number } {
  let m = 0;
  for (let c = 0; c < C; c++) m += x[r * C + c];
  m /= C;
  let v = 0;
  for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
  return { m, rstd: 1 / Math.sqrt(v / C + eps) };
}

export function layerNormRef(x: Arr, w: Arr, b: Arr, C: number, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    const { m, rstd } = rowStats(x, r, C, eps);
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - m) * rstd * w[c] + b[c];
  }
  return out;
}

/** Gradients of LayerNorm over the last axis (float64): dx, dweight, dbias. */
export function layerNormBackwardRef(x: Arr, w: Arr, dy: Arr, C: number, eps: number): { dx: Float32Array; dweight: Float32Array; dbias: Float32Array } {
  const dx = new Float32Array(x.length);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  const xh = new Float64Array(C);
  for (let r = 0; r < x.length / C; r++) {
    const { m, rstd } = rowStats(x, r, C, eps);
    let sg = 0, sgx = 0;
    for (let c = 0; c < C; c++) {
      xh[c] = (x[r * C + c] - m) * rstd;
      const g = dy[r * C + c] * w[c];
      sg += g;
      sgx += g * xh[c];
      dw[c] += dy[r * C + c] * xh[c];
      db[c] += dy[r * C + c];
    }
    for (let c = 0; c < C; c++) dx[r * C + c] = rstd * (dy[r * C + c] * w[c] - sg / C - (xh[c] * sgx) / C);
  }
  return { dx, dweight: Float32Array.from(dw), dbias: Float32Array.from(db) };
}

/** Softmax over rows of `C` (float64), optional causal mask for [.., T, T] rows (j > i → -inf). */
export function softmaxRef(x: Arr, C: number, causalT = 0): Float32Array {
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

/** dx of y = softmax(x) from y and dy: y ⊙ (dy − Σ y ⊙ dy). */
export function softmaxBackwardRef(y: Arr, dy: Arr, C: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let r = 0; r < y.length / C; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += y[r * C + c] * dy[r * C + c];
    for (let c = 0; c < C; c++) out[r * C + c] = y[r * C + c] * (dy[r * C + c] - s);
  }
  return out;
}

/** Causal (or full) attention core on packed qkv [B, T, 3D] → [B, T, D], float64. */
export function attentionRef(qkv: Arr, B: number, T: number, D: number, heads: number, causal: boolean): Float32Array {
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
export function linearRef(x: Arr, w: Arr, b: Arr | null, R: number, N: number, K: number): Float32Array {
  const out = matmulRef(Float32Array.from(x), Float32Array.from(w), R, N, K, { transB: true });
  if (b) for (let r = 0; r < R; r++) for (let n = 0; n < N; n++) out[r * N + n] = out[r * N + n] + b[n];
  return out;
}

/** The GEMM epilogue in float64: residual + scale ⊙ act(acc + bias), per column. */
export function epilogueRef(acc: Float32Array, N: number, e: { bias?: Arr; gelu?: boolean; scale?: Arr; residual?: Arr }): Float32Array {
  const out = new Float32Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const c = i % N;
    let v = acc[i] + (e.bias ? e.bias[c] : 0);
    if (e.gelu) v = geluRef(v);
    if (e.scale) v *= e.scale[c];
    out[i] = v + (e.residual ? e.residual[i] : 0);
  }
  return out;
}

/** Depthwise conv, NHWC x [N, H, W, C], tap-major weight [kh, kw, C], zero padding (float64). */
export function depthwiseRef(x: Arr, [N, H, W, C]: readonly number[], w: Arr, kh: number, kw: number, pad: readonly [number, number], opts: { bias?: Arr; flip?: boolean } = {}): Float32Array {
  const [py, px] = pad;
  const Ho = H + 2 * py - kh + 1, Wo = W + 2 * px - kw + 1;
  const out = new Float32Array(N * Ho * Wo * C);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) for (let c = 0; c < C; c++) {
    let s = opts.bias ? opts.bias[c] : 0;
    for (let dy = 0; dy < kh; dy++) {
      const iy = oy + dy - py;
      if (iy < 0 || iy >= H) continue;
      for (let dx = 0; dx < kw; dx++) {
        const ix = ox + dx - px;
        if (ix < 0 || ix >= W) continue;
        const tap = opts.flip ? (kh - 1 - dy) * kw + (kw - 1 - dx) : dy * kw + dx;
        s += x[((n * H + iy) * W + ix) * C + c] * w[tap * C + c];
      }
    }
    out[((n * Ho + oy) * Wo + ox) * C + c] = s;
  }
  return out;
}

/** Gradients of the depthwise conv (stride 1, padding `pad`): dx, tap-major dweight, dbias. */
export function depthwiseBackwardRef(x: Arr, shape: readonly number[], w: Arr, kh: number, kw: number, pad: number, dy: Arr): { dx: Float32Array; dweight: Float32Array; dbias: Float32Array } {
  const [N, H, W, C] = shape;
  const Ho = H + 2 * pad - kh + 1, Wo = W + 2 * pad - kw + 1;
  const dx = new Float64Array(N * H * W * C);
  const dw = new Float64Array(kh * kw * C);
  const db = new Float64Array(C);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) for (let c = 0; c < C; c++) {
    const g = dy[((n * Ho + oy) * Wo + ox) * C + c];
    db[c] += g;
    for (let ty = 0; ty < kh; ty++) {
      const iy = oy + ty - pad;
      if (iy < 0 || iy >= H) continue;
      for (let tx = 0; tx < kw; tx++) {
        const ix = ox + tx - pad;
        if (ix < 0 || ix >= W) continue;
        const xi = ((n * H + iy) * W + ix) * C + c;
        const ti = (ty * kw + tx) * C + c;
        dx[xi] += g * w[ti];
        dw[ti] += g * x[xi];
      }
    }
  }
  return { dx: Float32Array.from(dx), dweight: Float32Array.from(dw), dbias: Float32Array.from(db) };
}

/**
 * For each element of the patch matrix [N·Ho·Wo, Cin·kh·kw] of a kernel = stride conv, the input
 * element it reads (K in the weight's order: (ci, dy, dx) for NCHW input, (dy, dx, ci) for NHWC
 * input with the packed weight). Unfold is a gather through it, the input gradient a scatter.
 */
export function patchIndexRef(layout: 'nchw' | 'nhwc', [N, Cin, H, W]: readonly number[], kh: number, kw: number): Int32Array {
  const Ho = Math.floor(H / kh), Wo = Math.floor(W / kw), K = Cin * kh * kw;
  const idx = new Int32Array(N * Ho * Wo * K);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) {
    const r = (n * Ho + oy) * Wo + ox;
    for (let ci = 0; ci < Cin; ci++) for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++) {
      const y = oy * kh + dy, xx = ox * kw + dx;
      const k = layout === 'nchw' ? (ci * kh + dy) * kw + dx : (dy * kw + dx) * Cin + ci;
      idx[r * K + k] = layout === 'nchw' ? ((n * Cin + ci) * H + y) * W + xx : ((n * H + y) * W + xx) * Cin + ci;
    }
  }
  return idx;
}

export function unfoldPatchesRef(x: Arr, layout: 'nchw' | 'nhwc', dims: readonly number[], kh: number, kw: number): Float32Array {
  return Float32Array.from(patchIndexRef(layout, dims, kh, kw), (i) => x[i]);
}

/** Gradients of the kernel = stride conv given dy [N·Ho·Wo, Cout]: dx (input layout), dweight [Cout, K], dbias. */
export function patchConvBackwardRef(x: Arr, layout: 'nchw' | 'nhwc', dims: readonly number[], w: Float32Array, Cout: number, kh: number, kw: number, dy: Float32Array): { dx: Float32Array; dweight: Float32Array; dbias: Float32Array } {
  const idx = patchIndexRef(layout, dims, kh, kw);
  const K = dims[1] * kh * kw;
  const R = idx.length / K;
  const cols = Float32Array.from(idx, (i) => x[i]);
  const dcols = matmulRef(dy, w, R, K, Cout);
  // Patches do not overlap: each input element gets at most one value (pixels past the last
  // whole patch stay 0).
  const dx = new Float32Array(dims.reduce((a, b) => a * b, 1));
  idx.forEach((xi, j) => (dx[xi] = dcols[j]));
  return { dx, dweight: matmulRef(dy, cols, Cout, K, R, { transA: true }), dbias: columnSumRef(dy, Cout) };
}

/** Σ over rows of x [rows, cols]. */
export function columnSumRef(x: Arr, cols: number): Float32Array {
  const s = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) s[i % cols] += x[i];
  return Float32Array.from(s);
}

/** Kernel = stride conv → NHWC [N, Ho, Wo, Cout]; weight [Cout, K] in the layout's K order. */
export function patchConvRef(x: Arr, layout: 'nchw' | 'nhwc', dims: readonly number[], w: Arr, Cout: number, kh: number, kw: number, bias?: Arr): Float32Array {
  const cols = unfoldPatchesRef(x, layout, dims, kh, kw);
  const K = dims[1] * kh * kw;
  return linearRef(cols, w, bias ?? null, cols.length / K, Cout, K);
}

/** Global average pool of NHWC [N, H, W, C] → [N, C]. */
export function avgPoolRef(x: Arr, N: number, HW: number, C: number): Float32Array {
  const out = new Float32Array(N * C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    let s = 0;
    for (let i = 0; i < HW; i++) s += x[(n * HW + i) * C + c];
    out[n * C + c] = s / HW;
  }
  return out;
}

/** Rows divided by max(‖row‖₂, eps) (F.normalize). */
export function l2NormalizeRef(x: Arr, D: number, eps = 1e-12): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[r * D + d] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), eps);
    for (let d = 0; d < D; d++) out[r * D + d] = x[r * D + d] * inv;
  }
  return out;
}

/** Token embedding + positional embedding: out[b, t] = weight[ids[b, t]] + pos[t]. */
export function embeddingRef(ids: Arr, weight: Arr, pos: Arr, T: number, D: number): Float32Array {
  const out = new Float32Array(ids.length * D);
  for (let i = 0; i < ids.length; i++) for (let d = 0; d < D; d++) out[i * D + d] = weight[ids[i] * D + d] + pos[(i % T) * D + d];
  return out;
}

/** x [B, T, D] at the first position of each row's largest token id → [B, D]. */
export function argmaxPoolRef(x: Arr, tokens: Arr, B: number, T: number, D: number): Float32Array {
  const out = new Float32Array(B * D);
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let t = 1; t < T; t++) if (tokens[b * T + t] > tokens[b * T + best]) best = t;
    for (let d = 0; d < D; d++) out[b * D + d] = x[(b * T + best) * D + d];
  }
  return out;
}

/** exp(logitScale) · image [N, D] · text [K, D]ᵀ → [N, K]. */
export function logitsRef(image: Arr, text: Arr, N: number, K: number, D: number, logitScale: number): Float32Array {
  const out = matmulRef(Float32Array.from(image), Float32Array.from(text), N, K, D, { transB: true });
  const s = Math.exp(logitScale);
  for (let i = 0; i < out.length; i++) out[i] = out[i] * s;
  return out;
}

/** open_clip ClipLoss from logits_per_image [N, N]: (CE(rows) + CE(columns)) / 2. */
export function clipLossRef(L: Arr, N: number): number {
  let t = 0;
  for (let r = 0; r < N; r++) {
    for (const [stride, step] of [[N, 1], [1, N]]) {
      let m = -Infinity;
      for (let j = 0; j < N; j++) m = Math.max(m, L[r * stride + j * step]);
      let s = 0;
      for (let j = 0; j < N; j++) s += Math.exp(L[r * stride + j * step] - m);
      t += m + Math.log(s) - L[r * N + r];
    }
  }
  return t / (2 * N);
}
