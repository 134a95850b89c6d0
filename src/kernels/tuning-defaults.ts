// Shipped tuning defaults: the winners `echoclip bench --tune` measured on real GPUs, per
// architecture, used when this machine has no tuning cache file of its own (lookup order: the
// adapter's cache file, then these, then the variant table's profile default). A TypeScript module
// rather than JSON so that every bundle (Node, browser, the portable one) carries it unchanged.
//
// Empty today: no real GPU has been measured yet. To add one, run `echoclip bench --tune --json` on
// the card and copy its `entries` (family, shapeClass, winner; the timings may stay in the note)
// into an item here:
//
//   {
//     match: { vendor: 'nvidia', architecture: 'hopper' },      // GPUAdapterInfo, compared lower-case
//     measured: 'H200, driver 550.54, Dawn (Node), 2025-06-01', // card, driver, runtime, date
//     entries: [
//       { family: 'matmul', shapeClass: 'large', winner: 'tiled128' },
//       { family: 'matmul', shapeClass: 'small-m', winner: 'splitk' },
//       { family: 'layernorm', shapeClass: '', winner: 'subgroup' },
//     ],
//   },
//
// `shapeClass` is the class the family's launcher asks for ('' = every call of the family; matmul:
// gemmShapeClass in gemm/select.ts). A winner the adapter cannot run (missing feature, experimental
// off) or that no longer exists is ignored with a warning, never chosen.

/** One tuned choice: `winner` for (family, shapeClass). */
export interface TuningChoice {
  family: string;
  shapeClass: string;
  winner: string;
}

export interface ShippedTuning {
  /** Adapter fields that must match (lower-case comparison; `device` / `description` when given). */
  match: { vendor: string; architecture: string; device?: string; description?: string };
  /** Which card, driver, runtime and date the entries were measured on. */
  measured: string;
  entries: readonly TuningChoice[];
}

export const SHIPPED_TUNING: readonly ShippedTuning[] = [];
