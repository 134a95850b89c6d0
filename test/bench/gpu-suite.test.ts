// `echoclip bench --suite gpu`: the budget ordering and the report helpers (pure), then one real
// budgeted run on the test adapter (shrunk sizes on a software adapter) that must write the
// JSON/Markdown/SVG with cases from several groups, and PyTorch (CPU) cases where torch exists.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attachVsPytorch, kernelBreakdown, runGpuSuite, runPlan, SOFTWARE_SIZES, type GpuReport, type PlanItem } from '../../src/bench/gpu.js';
import { parseOpenClipConfig } from '../../src/models/config.js';
import { FIXTURES } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';
import type { ReportCase } from '../../src/bench/peers/compare.js';
import { probePytorch } from '../../src/bench/peers/pytorch.js';
import { benchCommand } from '../../src/cli/bench.js';
import { UsageError } from '../../src/errors.js';

const tower = (impl: 'echoclip' | 'pytorch', dtype: string, items: number, variant = 'gpu'): ReportCase => ({
  suite: 'gpu', name: 'image_tower', shape: '64x3x224x224', dtype, impl, variant, median_ms: 64_000 / items, min_ms: 0, max_ms: 0, repeats: 1, gflops: null, gbps: null, peak_gpu_bytes: null, items_per_s: items,
});

describe('gpu suite plan', () => {
  it('runs items in order while their estimate fits, skips the rest with the reason, always cleans up', async () => {
    let clock = 0;
    const item = (what: string, estimateS: number, takesS: number, always = false): PlanItem => ({ group: 'towers', what, estimateS, always, run: async () => ((clock += takesS * 1000), [tower('echoclip', 'f32', 1)]) });
    const r = await runPlan([item('a', 5, 4), item('b', 20, 1), item('c', 3, 3), item('d', 5, 1), item('cleanup', 0, 0, true)], 10_000, () => undefined, () => clock);
    expect(r.ran).toEqual(['towers: a', 'towers: c', 'towers: cleanup']);
    expect(r.skipped).toEqual([
      { what: 'towers: b', why: 'time budget: 6 s left, ~20 s needed' },
      { what: 'towers: d', why: 'time budget: 3 s left, ~5 s needed' },
    ]);
    expect(r.cases).toHaveLength(3);
  });

  it('reports a failing item under skipped and carries on', async () => {
    const r = await runPlan([{ group: 'train', what: 'x', estimateS: 0, run: async () => { throw new Error('GPU out of memory\nmore'); } }, { group: 'matmul', what: 'y', estimateS: 0, run: async () => [] }], Infinity, () => undefined);
    expect(r.skipped).toEqual([{ what: 'train: x', why: 'failed: GPU out of memory' }]);
    expect(r.ran).toEqual(['matmul: y']);
  });

  it('vs_pytorch: ours over the best autocast eager configuration (compile and f32 do not count)', () => {
    const cases = attachVsPytorch([tower('echoclip', 'f16', 1200), tower('pytorch', 'f32', 3000, 'f32 eager (cuda)'), tower('pytorch', 'autocast f16', 2000, 'autocast-f16 eager (cuda)'), tower('pytorch', 'autocast bf16', 2400, 'autocast-bf16 channels_last (cuda)'), tower('pytorch', 'autocast f16', 5000, 'autocast-f16 compile (cuda)')]);
    expect(cases[0].vs_pytorch).toBeCloseTo(0.5);
    expect(cases.slice(1).every((c) => c.vs_pytorch === undefined)).toBe(true);
  });

  it('sums the per-dispatch profile per kernel, largest first', () => {
    const k = kernelBreakdown([{ label: 'matmul', ms: 2 }, { label: 'dw7', ms: 1 }, { label: 'matmul', ms: 1 }]);
    expect(k).toEqual([{ kernel: 'matmul', calls: 2, ms: 3, share: 0.75 }, { kernel: 'dw7', calls: 1, ms: 1, share: 0.25 }]);
  });

  it('--budget belongs to --suite gpu and must be positive', async () => {
    await expect(benchCommand(['--suite', 'kernels', '--budget', '30'])).rejects.toThrow(/only --suite gpu is budgeted/);
    await expect(benchCommand(['--suite', 'gpu', '--budget', '0'])).rejects.toThrow(UsageError);
  });
});

const hasTorch = (await probePytorch()).peer !== null;

describe('gpu suite with PyTorch on the tiny model configuration', () => {
  it.runIf(hasTorch)('PyTorch cases are checked against our f32 towers, then timed', async () => {
    const gpu = await testGpu();
    const config = parseOpenClipConfig(readFileSync(join(FIXTURES, 'echoclip_tiny/open_clip_config.json'), 'utf8'));
    const r = await runGpuSuite(gpu, { budgetS: 120, timing: { warmup: 1, repeats: 2, maxSeconds: 5 }, config, log: () => undefined, sizes: { imageBatches: [2], textBatches: [3], matmul: [], trainBatches: [], denseImageBatch: 1, denseTextBatch: 1, breakdownFrames: 2 } });
    const pt = r.cases.filter((c) => c.impl === 'pytorch');
    expect(pt.map((c) => `${c.name} ${c.shape} ${c.dtype}`)).toEqual(['image_tower 2x3x224x224 f32', 'text_tower 3x77 f32']);
    for (const c of pt) {
      expect(c.error).toBeUndefined();
      expect(c.variant).toBe('f32 eager (cpu)');
      expect(c.check!.max_abs_diff).toBeLessThanOrEqual(c.check!.tolerance);
      expect(c.items_per_s).toBeGreaterThan(0);
    }
    const ours = r.cases.filter((c) => c.impl === 'echoclip' && /_tower$/.test(c.name));
    expect(ours.length).toBe(gpu.f16 ? 4 : 2);
    expect(r.machine_info.pytorch?.cuda).toBe(false);
  }, 300_000);
});

describe('echoclip bench --suite gpu on the test adapter', () => {
  it('writes JSON, Markdown and SVG with cases from several groups within the budget', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'echoclip-gpu-suite-'));
    const torch = hasTorch;
    try {
      const t0 = performance.now();
      expect(await benchCommand(['--suite', 'gpu', '--budget', '45', '--out', join(dir, 'gpu.json')])).toBe(0);
      const seconds = (performance.now() - t0) / 1000;
      const report = JSON.parse(readFileSync(join(dir, 'gpu.json'), 'utf8')) as GpuReport;
      process.stderr.write(`gpu suite: ${seconds.toFixed(0)} s; ran ${report.cases.map((c) => `${c.impl} ${c.name} ${c.shape} ${c.dtype} ${c.median_ms.toFixed(0)} ms`).join('; ')}\nskipped: ${report.skipped!.map((s) => `${s.what} (${s.why})`).join('; ')}\n`);
      expect(report.suite).toBe('gpu');
      expect(report.adapter.description).toBeTruthy();
      if (report.adapter.fallback) expect(report.sizes).toEqual(SOFTWARE_SIZES);
      const ours = report.cases.filter((c) => c.impl === 'echoclip' && !c.error);
      const groups = new Set(ours.map((c) => (/_tower$/.test(c.name) ? 'towers' : c.name === 'matmul' ? 'matmul' : c.name.startsWith('zero_shot') ? 'e2e' : c.name === 'train_step' ? 'train' : 'dense')));
      expect(groups.size, [...groups].join(', ')).toBeGreaterThanOrEqual(2);
      expect(groups.has('towers')).toBe(true);
      for (const c of ours) {
        expect(c.suite).toBe('gpu');
        expect(c.median_ms).toBeGreaterThan(0);
      }
      if (torch) {
        // On a loaded 2-core software adapter the full-size image tower alone can take ~27 s, so
        // PyTorch either ran (checked) or is listed as cut by the budget; the tiny-model test
        // below always runs it.
        const pt = report.cases.filter((c) => c.impl === 'pytorch');
        if (pt.length) for (const c of pt) expect(c.error, `${c.name} ${c.variant}`).toBeUndefined();
        else expect(report.skipped!.find((s) => s.what.startsWith('pytorch:'))?.why).toMatch(/time budget/);
        expect(report.machine_info.pytorch?.torch).toBeTruthy();
      } else {
        expect(report.skipped!.some((s) => s.what.startsWith('pytorch'))).toBe(true);
      }
      expect(report.skipped!.length).toBeGreaterThan(0);
      expect(readFileSync(join(dir, 'gpu.md'), 'utf8')).toMatch(/## Towers/);
      expect(existsSync(join(dir, 'gpu.svg'))).toBe(true);
      // Budget 45 s: items start only while their estimate fits; the last may run over a little.
      expect(seconds).toBeLessThan(45 + 60);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);
});
