// Patch addressing of the implicit-GEMM convolutions (see GemmPatch in types.ts).
/**
 * Patch-row starts a0..a{n-1} for rows r0.. (clamped to M - 1): one (n, oy, ox) division for r0,
 * then an odometer step per row — per-lane integer division is slow on software adapters.
 */
export function patchRows(n: number): string {
  let code = `var pn = 0u; var py = 0u; var px = 0u;
  { let r = min(r0, p.M - 1u); let hw = p.Ho * p.Wo; pn = r / hw; let rem = r - pn * hw; py = rem / p.Wo; px = rem - py * p.Wo; }
  let abase = b * p.strideA;`;
  for (let i = 0; i < n; i++) {
    if (i > 0) code += `
  if (r0 + ${i}u < p.M) { px += 1u; if (px == p.Wo) { px = 0u; py += 1u; if (py == p.Ho) { py = 0u; pn += 1u; } } }`;
    code += `
  let a${i} = abase + pn * p.sN + py * p.sOy + px * p.sOx;`;
  }
  return code;
}

