// The GEMM variant table: per variant, its WGSL body and its dispatch geometry. Adding a variant =
// one body generator + one row here + one row in ../variants.ts (needs, profile defaults).
import { RB_TM, RB_WG, regblockBody } from './regblock.js';
import { TILE, tiledBody } from './tiled.js';
import type { GemmKey, MatmulVariant } from './types.js';

export interface GemmVariantSpec {
  /** The compute body (entry point `main`), given the key. */
  body(k: GemmKey): string;
  /** Output columns and rows one workgroup covers (grid: x over columns, y/z over row blocks × batch). */
  colsPerGroup: number;
  rowsPerGroup: number;
}

export const GEMM_VARIANTS: Record<MatmulVariant, GemmVariantSpec> = {
  regblock: { body: regblockBody, colsPerGroup: RB_WG * 4, rowsPerGroup: RB_TM },
  tiled: { body: () => tiledBody(), colsPerGroup: TILE, rowsPerGroup: TILE },
};
