// The GEMM variant table: per variant, its WGSL body and its dispatch geometry. Adding a variant =
// one body generator + one row here + one row in ../variants.ts (needs, profile defaults).
import { RB_TM, RB_WG, regblockBody } from './regblock.js';
import { recordSplitK, type GemmDispatcher } from './splitk.js';
import { SPLITK_TILE, TILED, TILED128, TILED128_F16, tiledBody, tiledWorkgroupBytes, type TiledConfig } from './tiled.js';
import { SGM_TILE, SGM_WORKGROUP_BYTES, subgroupMatrixBody, subgroupMatrixDirectives } from './subgroup-matrix.js';
import type { Gpu } from '../../gpu/device.js';
import type { GemmCall, GemmKey, MatmulVariant } from './types.js';

export interface GemmVariantSpec {
  /** The compute body (entry point `main`), given the key. */
  body(k: GemmKey): string;
  /** Directives the body needs (`enable …;`), placed first in the module. */
  directives?(k: GemmKey): string;
  /** Output columns and rows one workgroup covers (grid: x over columns, y/z over row blocks × batch). */
  colsPerGroup: number;
  rowsPerGroup: number;
  /** Workgroup memory the body declares (bytes): checked against gpu.limits at selection and launch. */
  workgroupBytes?: number;
  /** 'f16': the body computes in f16 and takes only f16 A and B. */
  operands?: 'f16';
  /** A dispatch path of its own (split-K: two dispatches) instead of record.ts's single one. */
  record?(gpu: Gpu, g: GemmCall, key: GemmKey, dispatch: GemmDispatcher): void;
}

/** A tiled-generator config as a variant row. */
function tiled(c: TiledConfig, extra: Partial<GemmVariantSpec> = {}): GemmVariantSpec {
  return { body: (k) => tiledBody(c, k), colsPerGroup: c.tn, rowsPerGroup: c.tm, workgroupBytes: tiledWorkgroupBytes(c), ...(c.f16Run ? { operands: 'f16' } : {}), ...extra };
}

export const GEMM_VARIANTS: Record<MatmulVariant, GemmVariantSpec> = {
  regblock: { body: regblockBody, colsPerGroup: RB_WG * 4, rowsPerGroup: RB_TM },
  tiled: tiled(TILED),
  tiled128: tiled(TILED128),
  'tiled128-f16': tiled(TILED128_F16),
  splitk: tiled(SPLITK_TILE, { record: recordSplitK }),
  'subgroup-matrix': { body: subgroupMatrixBody, directives: subgroupMatrixDirectives, colsPerGroup: SGM_TILE, rowsPerGroup: SGM_TILE, workgroupBytes: SGM_WORKGROUP_BYTES },
};
