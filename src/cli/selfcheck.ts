import { UsageError } from '../errors.js';
import { requestDevice } from '../gpu/device.js';
import { resolveFixtures } from '../selfcheck/models.js';
import { BUDGET_REASON, runSelfcheck, selfcheckReport, type SelfcheckGroup } from '../selfcheck/run.js';
import type { CheckResult, SelfcheckReport, SkippedCheck } from '../selfcheck/types.js';
import { writeFileSync } from 'node:fs';
import { interruptedSkip, onInterrupt } from './interrupt.js';
import { flagNumber, flagString, parseArgs } from './args.js';
import { writeFileAtomic } from './common.js';

const USAGE = `usage: echoclip selfcheck [--device D] [--budget SECONDS] [--json] [--out FILE] [--md FILE]
                          [--fixtures DIR] [--only kernels,models,train,pytorch] [--torch auto|off] [--quick]

Correctness on this adapter: every kernel variant of the variant table the adapter can run (f32
and, with shader-f16, f16 storage; experimental ones with ECHOCLIP_EXPERIMENTAL_KERNELS=1) against
float64 CPU references on fresh random inputs with poisoned outputs, the tiny EchoCLIP / EchoCLIP-R forward and a training step against the PyTorch goldens,
kernels at full-size shapes, then the full-size model against PyTorch (when python3 + torch exist).
Checks run in that order; with --budget, checks not started in time are listed as skipped.

  --fixtures DIR  the fixture directory or a pack from scripts/selfcheck-pack.mjs
                  (default: $ECHOCLIP_FIXTURES, else ../shared/fixtures; none: model checks skipped)
  --quick         odd-shape kernels (variants no profile defaults to: one shape per family)
                  and the tiny models only
  --json          print the report (JSON) on stdout; --out FILE writes it to FILE
  --md FILE       the variant-status table (which variant ran and passed here) as Markdown

exit code: 0 every check run passed and none was cut by the budget; 1 a check failed;
           3 every check run passed but the budget cut some`;

const GROUPS: readonly SelfcheckGroup[] = ['kernels', 'models', 'train', 'pytorch'];

/** `echoclip selfcheck`: see USAGE. */
export async function selfcheckCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const args = parseArgs(argv, { device: 'value', budget: 'value', json: 'switch', out: 'value', md: 'value', fixtures: 'value', only: 'value', torch: 'value', quick: 'switch' }, 'selfcheck');
  const budget = flagString(args, 'budget') === undefined ? undefined : flagNumber(args, 'budget', 'selfcheck', 0);
  if (budget !== undefined && budget <= 0) throw new UsageError('echoclip selfcheck', `--budget must be a positive number of seconds, got ${budget}`);
  const only = flagString(args, 'only')?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const g of only ?? []) if (!GROUPS.includes(g as SelfcheckGroup)) throw new UsageError('echoclip selfcheck', `--only: unknown group '${g}'`, { hint: `choose from ${GROUPS.join(', ')}` });
  const torch = flagString(args, 'torch') ?? 'auto';
  if (torch !== 'auto' && torch !== 'off') throw new UsageError('echoclip selfcheck', `--torch must be auto or off, got '${torch}'`);
  const fixtures = resolveFixtures(flagString(args, 'fixtures'), process.env.ECHOCLIP_FIXTURES, process.cwd());

  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  let report: SelfcheckReport;
  const live = { checks: [] as CheckResult[], skipped: [] as SkippedCheck[] };
  const started = new Date(), t0 = performance.now();
  // Killed at a hard limit: write the checks that finished, exit as a budget cut (3) or failure (1).
  const stopWatching = onInterrupt((signal) => {
    const r = selfcheckReport(gpu, started, t0, [...live.checks], [...live.skipped, interruptedSkip(signal)]);
    emit(args, r, true);
    return r.pass ? 3 : 1;
  });
  try {
    const a = gpu.adapter;
    process.stderr.write(`selfcheck on ${a.description} [${a.runtime}${a.fallback ? ', software' : ''}], kernels: ${gpu.kernelProfile}, f16: ${gpu.f16}\n`);
    report = await runSelfcheck(gpu, {
      budgetSeconds: budget,
      only: only as SelfcheckGroup[] | undefined,
      quick: args.flags.has('quick'),
      fixtures,
      torch: torch === 'auto',
      log: (l) => process.stderr.write(`${l}\n`),
      live,
    });
  } finally {
    stopWatching();
    gpu.destroy();
  }
  await emit(args, report, false);
  if (!report.pass) return 1;
  return report.skipped.some((s) => s.why === BUDGET_REASON) ? 3 : 0;
}

/** Table on stderr, JSON on stdout (--json) and in --out; `sync` when the process exits right after. */
function emit(args: ReturnType<typeof parseArgs>, report: SelfcheckReport, sync: boolean): Promise<void> | void {
  process.stderr.write(formatTable(report));
  const json = JSON.stringify(report, null, 1) + '\n';
  if (args.flags.has('json')) process.stdout.write(json);
  const md = flagString(args, 'md');
  if (md) writeFileSync(md, formatVariantMarkdown(report));
  const out = flagString(args, 'out');
  if (!out) return;
  if (sync) writeFileSync(out, json);
  else return writeFileAtomic(out, json);
}

/** One line per variant of the table: its status here, checks passed, where it is the default. */
export function formatVariantStatus(r: SelfcheckReport): string {
  const rows = (r.variants ?? []).map((v) => [`${v.family}/${v.variant}`, v.status, v.available ? `${v.passed}/${v.checks}` : '', v.available ? (v.defaultOn === 'none' ? '' : `default on ${v.defaultOn}`) : (v.reason ?? '')]);
  const width = rows.length ? [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length))) : [0, 0, 0];
  return `variant status (checks passed):\n${rows.map((row) => `  ${row.map((v, i) => (i < 3 ? v.padEnd(width[i]) : v)).join('  ').trimEnd()}\n`).join('')}`;
}

/** The variant-status table as Markdown rows for src/kernels/README.md ("which variant passed where"). */
export function formatVariantMarkdown(r: SelfcheckReport): string {
  const a = r.adapter;
  const where = `${a.description} (${a.runtime}${a.fallback ? ', software' : ''})`;
  const lines = [
    `Kernel variants on ${where}, \`echoclip selfcheck\` of ${r.started} (${r.pass ? 'PASS' : 'FAIL'}):`,
    '',
    '| family | variant | adapter | status | checks passed | default on / why unavailable |',
    '|---|---|---|---|---:|---|',
    ...(r.variants ?? []).map((v) => `| ${v.family} | ${v.variant}${v.experimental ? ' (experimental)' : ''} | ${where} | ${v.status} | ${v.available ? `${v.passed}/${v.checks}` : ''} | ${v.available ? v.defaultOn : (v.reason ?? '')} |`),
  ];
  return lines.join('\n') + '\n';
}

/** The human table: one line per check with its max abs error, failures first in the summary. */
export function formatTable(r: SelfcheckReport): string {
  const rows = r.checks.map((c) => [c.pass ? 'ok' : 'FAIL', c.group, c.name, c.variant, c.dtype, c.shape, c.profile ?? '', Number.isFinite(c.maxAbsErr) ? c.maxAbsErr.toExponential(2) : String(c.maxAbsErr), `${c.tol.toExponential(1)} ${c.tolKind}`, `${c.ms.toFixed(0)} ms`]);
  const head = ['', 'group', 'check', 'variant', 'dtype', 'shape', 'profile', 'max abs err', 'tol', 'time'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((v, i) => v.padEnd(width[i])).join('  ').trimEnd() + '\n';
  let s = line(head) + rows.map(line).join('');
  const failed = r.checks.filter((c) => !c.pass);
  for (const f of failed) s += `FAIL ${f.group} ${f.name} [${f.variant}, ${f.dtype}, ${f.shape}, seed ${f.seed ?? '-'}]: ${f.error ?? `max ${f.tolKind} err ${f.tolKind === 'rel' ? f.maxRelErr : f.maxAbsErr} > tol ${f.tol}`}\n`;
  for (const k of r.skipped) s += `skipped: ${k.what} (${k.why})\n`;
  s += formatVariantStatus(r);
  s += `selfcheck: ${r.checks.length - failed.length}/${r.checks.length} passed, ${r.skipped.length} skipped, ${r.seconds.toFixed(1)} s — ${r.pass ? 'PASS' : 'FAIL'}\n`;
  return s;
}
