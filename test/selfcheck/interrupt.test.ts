// A hard time limit (run.sh's `timeout`) ends selfcheck and the gpu bench with SIGTERM: what finished
// must still reach the JSON (and, for the bench, its table), marked as interrupted, with exit 3 / 143.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SelfcheckReport } from '../../src/selfcheck/types.js';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'echoclip-interrupt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the built CLI, sends SIGTERM once stderr has matched `when`; resolves with the exit code. */
function runUntil(args: string[], when: RegExp): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['bin/echoclip.js', ...args], { cwd: root, env: { ...process.env, ECHOCLIP_PYTHON: 'none' } });
    let stdout = '', stderr = '', sent = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      done({ code, signal, stdout, stderr });
    });
  });
}

describe('interrupted runs write what finished', () => {
  it('selfcheck: SIGTERM mid-run → the finished checks in --out and on stdout, the rest marked interrupted, exit 3', async () => {
    const out = join(tmp, 'selfcheck.json');
    // The kernel checks at full-size shapes take minutes here: stop once the odd shapes are done.
    const r = await runUntil(['selfcheck', '--only', 'kernels', '--json', '--out', out], /-- kernels at full-size shapes/);
    expect(r.signal, r.stderr.slice(-2000)).toBeNull();
    expect(r.code, r.stderr.slice(-2000)).toBe(3);
    const file = JSON.parse(readFileSync(out, 'utf8')) as SelfcheckReport;
    expect(JSON.parse(r.stdout)).toEqual(file);
    expect(file.checks.length).toBeGreaterThan(10);
    expect(file.checks.every((c) => c.pass)).toBe(true);
    expect(file.skipped.at(-1)).toEqual({ what: 'the rest of the run', why: expect.stringMatching(/interrupted by SIGTERM/) });
  }, 300_000);

  it('bench --suite gpu: SIGTERM after the first case → JSON, table and chart with that case, exit 143', async () => {
    const out = join(tmp, 'gpu.json');
    const r = await runUntil(['bench', '--suite', 'gpu', '--budget', '300', '--out', out], /bench: towers: text tower 1x77 f32 weights: /);
    expect(r.signal, r.stderr.slice(-2000)).toBeNull();
    expect(r.code, r.stderr.slice(-2000)).toBe(143);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { cases: { name: string; impl: string }[]; skipped: { what: string; why: string }[] };
    expect(report.cases.map((c) => `${c.impl} ${c.name}`)).toContain('echoclip text_tower');
    expect(report.skipped.at(-1)?.why).toMatch(/interrupted by SIGTERM/);
    expect(existsSync(join(tmp, 'gpu.md')) && existsSync(join(tmp, 'gpu.svg'))).toBe(true);
  }, 300_000);
});
