// 'tiled' (real GPUs): a 64×64 tile per 16×16 workgroup staged through workgroup memory in
// K-slices of 16, each invocation computing 4×4 — the classic shape, where shared memory is fast
// and global loads are the bottleneck.
import { BLOCK_INDEX, storeRows } from './generator.js';

export const TILE = 64;
const TK = 16;

export function tiledBody(): string {
  // 256 invocations load a 64×16 slice of A and a 16×64 slice of B (4 elements each), then each
  // computes its 4×4 outputs from workgroup memory. Out-of-range elements load as zero.
  return /* wgsl */ `
var<workgroup> tA: array<array<f32, ${TILE}>, ${TK}>;
var<workgroup> tB: array<array<f32, ${TILE}>, ${TK}>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {${BLOCK_INDEX}
  let rowT = rblk * ${TILE}u;
  let colT = wid.x * ${TILE}u;
  let t = lid.y * 16u + lid.x;
  var acc = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var k0 = 0u; k0 < p.K; k0 += ${TK}u) {
    for (var e = 0u; e < 4u; e++) {
      let idx = t * 4u + e;          // 0..1023 over a 16×64 slice
      let kk = idx / ${TILE}u;
      let m = idx % ${TILE}u;
      let gk = k0 + kk;
      let gr = rowT + m;
      let gc = colT + m;
      tA[kk][m] = select(0.0, loadA(b, min(gr, p.M - 1u), min(gk, p.K - 1u)), gr < p.M && gk < p.K);
      tB[kk][m] = select(0.0, loadB(b, min(gk, p.K - 1u), min(gc, p.N - 1u)), gc < p.N && gk < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      let bv = vec4f(tB[kk][lid.x * 4u], tB[kk][lid.x * 4u + 1u], tB[kk][lid.x * 4u + 2u], tB[kk][lid.x * 4u + 3u]);
      acc[0] += tA[kk][lid.y * 4u] * bv;
      acc[1] += tA[kk][lid.y * 4u + 1u] * bv;
      acc[2] += tA[kk][lid.y * 4u + 2u] * bv;
      acc[3] += tA[kk][lid.y * 4u + 3u] * bv;
    }
    workgroupBarrier();
  }
  let r0 = rowT + lid.y * 4u;
  let c0 = colT + lid.x * 4u;
  if (c0 >= p.N) { return; }
  ${storeRows(4, (i) => `acc[${i}]`)}
}
`;
}

