// Runs the selfcheck phases in priority order under a time budget: kernels at odd shapes (cheap,
// most important), the tiny models, the training step, kernels at full-size shapes, then the
// full-size model against PyTorch. A check starts only while the budget lasts, so a run overshoots
// by at most one check; every check not started is listed in `skipped` with the reason.
import type { Gpu } from '../gpu/device.js';
import { freshSeed, Seeds, type Plan, type PlannedCheck } from './harness.js';
import { kernelChecks } from './kernels.js';
import { modelChecks, trainChecks, type FixtureDir } from './models.js';
import { tableDefaultOn, unavailableReason } from '../kernels/tuning.js';
import { KERNEL_VARIANTS } from '../kernels/variants.js';
import type { CheckResult, SelfcheckReport, SkippedCheck, VariantStatus } from './types.js';

export type SelfcheckGroup = 'kernels' | 'models' | 'train' | 'pytorch';

export interface SelfcheckOptions {
  /** Seconds for the whole run (checks not started by then are skipped). Default: no limit. */
  budgetSeconds?: number;
  /** Which groups run (default all four). */
  only?: readonly SelfcheckGroup[];
  /** Odd-shape kernels and the tiny models only. */
  quick?: boolean;
  /** The fixture directory (full fixtures or a selfcheck pack), or why there is none. */
  fixtures: FixtureDir | { missing: string };
  /** Run the PyTorch comparison (default true; it skips itself without python3/torch). */
  torch?: boolean;
  /** Seed of the run's random inputs (default: fresh from crypto). */
  seed?: number;
  /** Progress lines (one per check). */
  log?: (line: string) => void;
  /**
   * Arrays the run appends its results to as it goes (default: its own), so that a caller who is
   * interrupted mid-run can still write what finished.
   */
  live?: { checks: CheckResult[]; skipped: SkippedCheck[] };
  /** The full-size PyTorch checks (src/selfcheck/pytorch.ts; injectable for tests). */
  pytorch?: (gpu: Gpu, opts: { deadline: number; log: (l: string) => void }) => Promise<{ checks: CheckResult[]; skipped: SkippedCheck[] }>;
}

interface Phase {
  group: SelfcheckGroup;
  label: string;
  plan: () => Promise<Plan> | Plan;
}

/** Runs the checks and returns the report (never throws for a failing check: it is recorded). */
export async function runSelfcheck(gpu: Gpu, opts: SelfcheckOptions): Promise<SelfcheckReport> {
  const started = new Date();
  const t0 = performance.now();
  const deadline = opts.budgetSeconds === undefined ? Infinity : t0 + opts.budgetSeconds * 1000;
  const log = opts.log ?? (() => undefined);
  const only = new Set<SelfcheckGroup>(opts.only ?? ['kernels', 'models', 'train', 'pytorch']);
  const seeds = new Seeds(opts.seed ?? freshSeed());
  const { checks, skipped } = opts.live ?? { checks: [] as CheckResult[], skipped: [] as SkippedCheck[] };
  const fixtures = 'missing' in opts.fixtures ? null : opts.fixtures;
  const noFixtures = (what: string): Plan => ({ checks: [], skipped: [{ what, why: `no fixtures: ${(opts.fixtures as { missing: string }).missing}` }] });

  const phases: Phase[] = [
    { group: 'kernels', label: 'kernels at odd shapes', plan: () => kernelChecks(gpu, 'odd', seeds, { quick: opts.quick }) },
    { group: 'models', label: 'tiny models', plan: () => (fixtures ? modelChecks(gpu, fixtures) : noFixtures('tiny EchoCLIP / EchoCLIP-R forward')) },
    { group: 'train', label: 'training step', plan: () => (fixtures ? trainChecks(gpu, fixtures) : noFixtures('tiny EchoCLIP training step')) },
    { group: 'kernels', label: 'kernels at full-size shapes', plan: () => kernelChecks(gpu, 'full', seeds) },
  ];
  for (const phase of phases) {
    if (!only.has(phase.group)) continue;
    if (opts.quick && (phase.group === 'train' || phase.label.includes('full-size'))) {
      skipped.push({ what: phase.label, why: '--quick' });
      continue;
    }
    const plan = await phase.plan();
    skipped.push(...plan.skipped);
    log(`-- ${phase.label}: ${plan.checks.length} checks`);
    await runPlanned(plan.checks, deadline, checks, skipped, log);
  }
  if (only.has('pytorch') && !opts.quick && opts.torch !== false) {
    if (performance.now() >= deadline) skipped.push({ what: 'full-size model against PyTorch', why: BUDGET_REASON });
    else {
      log('-- full-size model against PyTorch');
      const pytorch = opts.pytorch ?? (await import('./pytorch.js')).pytorchChecks;
      const r = await pytorch(gpu, { deadline, log });
      checks.push(...r.checks);
      skipped.push(...r.skipped);
    }
  } else if (only.has('pytorch')) {
    skipped.push({ what: 'full-size model against PyTorch', why: opts.quick ? '--quick' : '--torch off' });
  }
  return selfcheckReport(gpu, started, t0, checks, skipped);
}

/** The report of the checks so far (also what an interrupted run writes). */
export function selfcheckReport(gpu: Gpu, started: Date, t0: number, checks: CheckResult[], skipped: SkippedCheck[]): SelfcheckReport {
  return {
    adapter: gpu.adapter,
    kernelProfile: gpu.kernelProfile,
    started: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    checks,
    skipped,
    variants: variantStatus(gpu, checks),
    pass: checks.length > 0 && checks.every((c) => c.pass),
  };
}

/**
 * Every row of the kernel-variant table on this adapter: unavailable (and why), or how many of the
 * checks that ran it passed — the "which variant passed where" table (src/kernels/README.md).
 */
export function variantStatus(gpu: Gpu, checks: readonly CheckResult[]): VariantStatus[] {
  return KERNEL_VARIANTS.map((v) => {
    const reason = unavailableReason(gpu, v);
    const mine = checks.filter((c) => c.family === v.family && c.variant === v.name);
    const passed = mine.filter((c) => c.pass).length;
    const status: VariantStatus['status'] = reason ? 'unavailable' : !mine.length ? 'not run' : passed === mine.length ? 'pass' : 'fail';
    return { family: v.family, variant: v.name, available: !reason, ...(reason ? { reason } : {}), defaultOn: tableDefaultOn(gpu, v), experimental: v.experimental ?? false, checks: mine.length, passed, status };
  });
}

/** The reason a check was skipped for lack of time (exit code 3 looks for it). */
export const BUDGET_REASON = 'budget exhausted';

async function runPlanned(planned: PlannedCheck[], deadline: number, checks: CheckResult[], skipped: SkippedCheck[], log: (l: string) => void): Promise<void> {
  for (let i = 0; i < planned.length; i++) {
    if (performance.now() >= deadline) {
      for (const p of planned.slice(i)) skipped.push({ what: p.what, why: BUDGET_REASON });
      return;
    }
    const results = await planned[i].run();
    checks.push(...results);
    // Progress: failures as they happen (the caller prints every check at the end).
    for (const r of results) if (!r.pass) log(`FAIL ${r.name} ${r.variant} ${r.dtype} ${r.shape}: ${r.error ?? `max abs err ${r.maxAbsErr.toExponential(2)}`}`);
  }
}
