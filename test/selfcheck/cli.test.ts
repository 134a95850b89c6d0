// `echoclip selfcheck` through the built bin (dist/, as scripts/test.sh builds it): --quick --json
// passes with the kernel and model groups; the pack script writes a small pack the selfcheck
// accepts; the budget cut and missing fixtures are reported as skipped, with exit code 3 / a reason.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { SelfcheckReport } from '../../src/selfcheck/types.js';
import { FIXTURES } from '../helpers/goldens.js';

const root = resolve(import.meta.dirname, '../..');
const exec = (file: string, args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(file, args, { cwd: root, timeout: 600_000, maxBuffer: 64 * 2 ** 20, env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const selfcheck = (args: string[], env: Record<string, string> = {}) => exec(process.execPath, ['bin/echoclip.js', 'selfcheck', ...args], env);
const tmp = mkdtempSync(join(tmpdir(), 'echoclip-selfcheck-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('echoclip selfcheck (built bin)', () => {
  it('--quick --json: every check passes, kernels and tiny models ran, the rest is skipped with a reason', async () => {
    const r = await selfcheck(['--quick', '--json', '--fixtures', FIXTURES]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const rep = JSON.parse(r.stdout) as SelfcheckReport;
    expect(rep.pass).toBe(true);
    expect(new Set(rep.checks.map((c) => c.group))).toEqual(new Set(['kernel', 'model']));
    expect(rep.checks.filter((c) => c.group === 'model').map((c) => c.name)).toContain('echoclip_r_tiny.loss.clip_loss');
    expect(rep.skipped.map((s) => s.why)).toContain('--quick');
    expect(rep.adapter.description.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/selfcheck: \d+\/\d+ passed/);
  }, 600_000);

  it('a budget cut lists the checks not run and exits 3; no fixtures skips the model checks with the reason', async () => {
    const r = await selfcheck(['--only', 'kernels,models', '--budget', '0.5', '--json', '--out', join(tmp, 'report.json')], { ECHOCLIP_FIXTURES: join(tmp, 'none') });
    expect(r.code, r.stderr.slice(-2000)).toBe(3);
    const rep = JSON.parse(r.stdout) as SelfcheckReport;
    expect(rep.checks.length).toBeGreaterThan(0);
    expect(rep.checks.every((c) => c.pass)).toBe(true);
    expect(rep.skipped.filter((s) => s.why === 'budget exhausted').length).toBeGreaterThan(10);
    expect(rep.skipped.some((s) => /^no fixtures: .*does not exist/.test(s.why))).toBe(true);
    expect(JSON.parse(readFileSync(join(tmp, 'report.json'), 'utf8'))).toEqual(rep);
    const bad = await selfcheck(['--only', 'everything']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^error: .*unknown group/m);
  }, 600_000);

  it('selfcheck-pack writes a small pack that the model and training checks accept and pass', async () => {
    const out = join(tmp, 'pack');
    const p = await exec(process.execPath, ['scripts/selfcheck-pack.mjs', '--fixtures', FIXTURES, '--out', out]);
    expect(p.code, p.stderr).toBe(0);
    const info = JSON.parse(p.stdout) as { bytes: number; xzBytes: number | null; zeroedRows: number };
    console.log(`selfcheck pack: ${(info.bytes / 2 ** 20).toFixed(2)} MiB raw, ${info.xzBytes ? (info.xzBytes / 2 ** 20).toFixed(2) : '?'} MiB tar.xz`);
    if (info.xzBytes !== null) expect(info.xzBytes).toBeLessThanOrEqual(12 * 2 ** 20);
    expect(info.zeroedRows).toBeGreaterThan(90_000);
    const r = await selfcheck(['--only', 'models,train', '--fixtures', out, '--json']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const rep = JSON.parse(r.stdout) as SelfcheckReport;
    expect(rep.pass).toBe(true);
    expect(new Set(rep.checks.map((c) => c.group))).toEqual(new Set(['model', 'train']));
    expect(rep.checks.some((c) => c.name === 'echoclip_tiny.train_step.grad.visual.trunk.stem.0.weight')).toBe(true);
  }, 900_000);
});
