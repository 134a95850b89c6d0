// The result shape of `echoclip selfcheck` (and of the checks other modules contribute to it, e.g.
// the full-size model against PyTorch). One record per check; a failure names the kernel, the
// variant and the shape.

export type CheckGroup = 'kernel' | 'model' | 'train' | 'pytorch';

export interface CheckResult {
  group: CheckGroup;
  /** Kernel family or check name, e.g. 'matmul', 'depthwise7x7', 'echoclip_tiny.image_features'. */
  name: string;
  /** The variant checked, e.g. 'tiled', 'regblock', '7x7-scalar', 'f16-autocast'. */
  variant: string;
  /** Storage/compute dtype description, e.g. 'f32', 'f16'. */
  dtype: string;
  /** Shape description, e.g. '77x512->1536'. */
  shape: string;
  /** Which kernel profile(s) select this variant by default: 'software', 'gpu', 'both' or 'forced' (neither). */
  profile?: string;
  /** The kernel-variant table family whose row `variant` names (src/kernels/variants.ts), if any. */
  family?: string;
  /** max |got - want| over the output (NaN/Infinity counts as a failure). */
  maxAbsErr: number;
  /** max |got - want| / max(1, max |want|). */
  maxRelErr?: number;
  /** The tolerance the check is held to, and what it applies to. */
  tol: number;
  tolKind: 'abs' | 'rel';
  pass: boolean;
  ms: number;
  /** Seed of the check's random inputs (fresh each run), to reproduce a failure. */
  seed?: number;
  /** Set when the check could not run (typed error message); such a check does not pass. */
  error?: string;
}

export interface SkippedCheck {
  what: string;
  why: string;
}

/** One row of the kernel-variant table on this adapter: did it run, and did every check of it pass. */
export interface VariantStatus {
  family: string;
  variant: string;
  available: boolean;
  /** Why it is unavailable (missing feature, experimental off). */
  reason?: string;
  /** Profiles whose table default it is on this adapter: 'software', 'gpu', 'both' or 'none'. */
  defaultOn: string;
  experimental: boolean;
  checks: number;
  passed: number;
  /** 'pass': ran, every check passed; 'fail': a check failed; 'not run': available but no check ran (budget, --only). */
  status: 'pass' | 'fail' | 'not run' | 'unavailable';
}

export interface SelfcheckReport {
  adapter: import('../gpu/device.js').AdapterDescription;
  kernelProfile: string;
  started: string;
  seconds: number;
  checks: CheckResult[];
  /** Checks not run (budget ran out, feature missing, no python3/torch), each with the reason. */
  skipped: SkippedCheck[];
  /** Every kernel variant of the table: available here or why not, and whether its checks passed. */
  variants: VariantStatus[];
  pass: boolean;
}
