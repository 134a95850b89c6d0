import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { summarize, formatMarkdown, formatTable } from '../../src/bench/harness.js';

const root = resolve(import.meta.dirname, '../..');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['bin/echoclip.js', ...args], { cwd: root, timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('echoclip CLI (built bin)', () => {
  it('prints usage and lists the commands', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['tokenize', 'embed', 'convert', 'bench', 'probe']) expect(r.stdout).toContain(c);
  });

  it('user errors are one line on stderr with a non-zero exit, never a stack trace', async () => {
    for (const args of [['nope'], ['embed', '--bogus'], ['embed', '--out', 'x.safetensors'], ['bench', '--suite', 'everything'], ['convert', '--weights', '/no/such/dir', '--out', '/tmp/x.safetensors']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning'));
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('probe reports the adapter and a passing known-answer matmul as JSON', async () => {
    const r = await run(['probe', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.selfTest.pass).toBe(true);
    expect(j.adapter.description.length).toBeGreaterThan(0);
    expect(j.limits.maxBufferSize).toBeGreaterThan(256 * 2 ** 20);
    // Per op family: the variant in use and every variant's availability (test/cli/probe.test.ts).
    expect(j.kernels.families.find((f: { family: string }) => f.family === 'matmul').variants.length).toBeGreaterThan(1);
    expect(j.kernels.experimental.howto).toMatch(/ECHOCLIP_EXPERIMENTAL_KERNELS=1/);
  });
});

describe('bench harness', () => {
  it('summarises samples (median of even and odd counts, min, max)', () => {
    expect(summarize([3, 1, 2])).toEqual({ median_ms: 2, min_ms: 1, max_ms: 3, repeats: 3 });
    expect(summarize([4, 1, 2, 3])).toEqual({ median_ms: 2.5, min_ms: 1, max_ms: 4, repeats: 4 });
  });

  it('formats the table and the Markdown with every case', () => {
    const c = { suite: 'kernels', name: 'matmul', shape: '8x8x8', dtype: 'f32', impl: 'echoclip' as const, variant: 'regblock', median_ms: 1.5, min_ms: 1, max_ms: 2, repeats: 3, gflops: 0.68, gbps: null, peak_gpu_bytes: null };
    expect(formatTable([c])).toMatch(/matmul\s+8x8x8\s+f32\s+echoclip\s+regblock\s+1\.50/);
    const md = formatMarkdown({ adapter: { description: 'A', vendor: '', architecture: '', device: '', fallback: true, features: ['shader-f16'], runtime: 'node-dawn', subgroupMinSize: 8, subgroupMaxSize: 8, subgroupMatrixConfigs: [] }, started: 'now', cases: [c] });
    expect(md).toContain('| kernels | matmul | 8x8x8 | f32 | echoclip | regblock | 1.50 | 1.00 | 0.68 |  |');
  });
});
