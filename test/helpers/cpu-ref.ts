// CPU references for kernel tests (float64 accumulation, so they are the more exact side).

export function matmulRef(a: Float32Array, b: Float32Array, M: number, N: number, K: number, opts: { transA?: boolean; transB?: boolean; batch?: number; aBatched?: boolean; bBatched?: boolean } = {}): Float32Array {
  const batch = opts.batch ?? 1;
  const out = new Float32Array(batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const ao = opts.aBatched === false ? 0 : bi * M * K;
    const bo = opts.bBatched === false ? 0 : bi * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = opts.transA ? a[ao + k * M + i] : a[ao + i * K + k];
          const bv = opts.transB ? b[bo + j * K + k] : b[bo + k * N + j];
          s += av * bv;
        }
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
