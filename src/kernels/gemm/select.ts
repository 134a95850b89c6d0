// Which GEMM variant a call gets: the kernel-variant table (../variants.ts) per adapter profile,
// overridden by the per-adapter tuning cache where it has an entry.
import type { Gpu } from '../../gpu/device.js';
import { chooseVariant } from '../variants.js';
import type { MatmulVariant } from './types.js';

export function defaultMatmulVariant(gpu: Gpu): MatmulVariant {
  return chooseVariant<MatmulVariant>(gpu, 'matmul');
}

