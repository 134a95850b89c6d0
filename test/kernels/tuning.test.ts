// The per-adapter tuning cache (src/kernels/tuning.ts) on the test adapter: the cache file round
// trip, a corrupt or foreign file ignored with a warning, entries naming unavailable or unknown
// variants never chosen, the lookup order (cache, shipped defaults, table default), 'auto' never
// searching on a software adapter, and `echoclip bench --tune` with a tiny budget.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { benchCommand } from '../../src/cli/bench.js';
import type { Gpu } from '../../src/gpu/device.js';
import { selectGemmVariant } from '../../src/kernels/gemm/select.js';
import { installTuning, loadTuning, missingGroups, parseTuningFile, prepareTuning, tuneAndCache, tuningKey, TUNING_SCHEMA, type TuningEntry, type TuningFile, type TuningStore } from '../../src/kernels/tuning.js';
import type { ShippedTuning } from '../../src/kernels/tuning-defaults.js';
import { availableVariants, chooseVariant } from '../../src/kernels/variants.js';
import { TuningCacheError } from '../../src/errors.js';
import { testGpu } from '../helpers/gpu.js';

const tmp = mkdtempSync(join(tmpdir(), 'echoclip-tuning-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let gpu: Gpu;
afterEach(() => {
  if (gpu) gpu.tuning = null;
});

function memoryStore(text?: string): TuningStore & { text?: string; writes: number } {
  const s = {
    location: 'memory:tuning.json', text, writes: 0,
    read: async () => s.text,
    write: async (t: string) => {
      s.text = t;
      s.writes++;
    },
  };
  return s;
}

const entry = (family: string, shapeClass: string, winner: string, timings: Record<string, number | null> = { [winner]: 1 }): TuningEntry => ({ family, shapeClass, winner, shapes: ['test'], timings_ms: timings, method: 'wall-clock' });
const file = (g: Gpu, entries: TuningEntry[]): TuningFile => ({ schema: TUNING_SCHEMA, kind: 'echoclip-tuning', key: tuningKey(g), updated: 'now', entries, skipped: [] });

describe('tuning lookup', () => {
  it('cache file round trip: the entries it names are picked, through chooseVariant and the GEMM selection', async () => {
    gpu = await testGpu();
    const store = memoryStore(JSON.stringify(file(gpu, [entry('matmul', 'large', 'tiled128'), entry('layernorm', '', 'workgroup')])));
    const log: string[] = [];
    const t = await loadTuning(gpu, { store, log: (l) => log.push(l), shipped: [] });
    expect(gpu.tuning).toBe(t);
    expect(log).toEqual([]);
    expect(chooseVariant(gpu, 'layernorm')).toBe('workgroup');
    expect(chooseVariant(gpu, 'matmul', 'large')).toBe('tiled128');
    expect(selectGemmVariant(gpu, { M: 1024, N: 1024, K: 1024, batch: 1, dtypes: ['f32', 'f32'] })).toBe('tiled128');
    expect(t.explain('matmul', 'large')).toMatchObject({ source: 'cache', variant: 'tiled128' });
    // Classes and families without an entry keep the table default.
    expect(t.pick('matmul', 'small-m')).toBeUndefined();
    expect(chooseVariant(gpu, 'softmax')).toBe(availableVariants(gpu, 'softmax').find((v) => v.defaultOn.includes(gpu.kernelProfile))!.name);
  });

  it('a corrupt, foreign-schema or other-adapter file is ignored with a warning, never a crash', async () => {
    gpu = await testGpu();
    expect(() => parseTuningFile('{"kind": "echoclip-tuning", "schema": 1, "entries": [', 'x.json')).toThrow(TuningCacheError);
    for (const [text, why] of [
      ['{ not json', /not JSON/],
      [JSON.stringify({ ...file(gpu, []), schema: 999 }), /schema 999/],
      [JSON.stringify({ kind: 'something-else' }), /not an echoclip tuning file/],
      [JSON.stringify({ ...file(gpu, []), entries: [{ family: 1 }] }), /malformed/],
      [JSON.stringify({ ...file(gpu, [entry('layernorm', '', 'workgroup')]), key: { ...tuningKey(gpu), description: 'another GPU' } }), /another adapter/],
    ] as const) {
      const log: string[] = [];
      const t = await loadTuning(gpu, { store: memoryStore(text), log: (l) => log.push(l), shipped: [] });
      expect(log.join('\n'), text).toMatch(why);
      expect(t.file).toBeNull();
      expect(t.pick('layernorm', '')).toBeUndefined();
    }
  });

  it('an entry naming an unavailable or unknown variant is dropped with a warning and never chosen', async () => {
    gpu = await testGpu();
    const log: string[] = [];
    // subgroup-matrix: experimental and no software adapter has it; 'warp-drive': no such variant.
    const t = await loadTuning(gpu, { store: memoryStore(JSON.stringify(file(gpu, [entry('matmul', 'large', 'subgroup-matrix'), entry('softmax', '', 'warp-drive')]))), log: (l) => log.push(l), shipped: [] });
    expect(log.some((l) => /'subgroup-matrix', which this device cannot run/.test(l))).toBe(true);
    expect(log.some((l) => /'warp-drive', which this version does not have/.test(l))).toBe(true);
    expect(t.pick('matmul', 'large')).toBeUndefined();
    expect(chooseVariant(gpu, 'matmul', 'large')).not.toBe('subgroup-matrix');
    expect(chooseVariant(gpu, 'softmax')).not.toBe('warp-drive');
  });

  it('lookup order: the cache file, then shipped defaults for the architecture, then the table default', async () => {
    gpu = await testGpu();
    const a = gpu.adapter;
    const shipped: ShippedTuning[] = [
      { match: { vendor: a.vendor, architecture: a.architecture }, measured: 'test card', entries: [{ family: 'matmul', shapeClass: 'large', winner: 'splitk' }, { family: 'attention', shapeClass: '', winner: 'tiled' }] },
      { match: { vendor: 'nobody', architecture: 'none' }, measured: 'other card', entries: [{ family: 'softmax', shapeClass: '', winner: 'workgroup' }] },
    ];
    const t = await loadTuning(gpu, { store: memoryStore(JSON.stringify(file(gpu, [entry('matmul', 'large', 'tiled128')]))), shipped, log: () => undefined });
    expect(t.explain('matmul', 'large')).toMatchObject({ source: 'cache', variant: 'tiled128' });
    expect(t.explain('attention', '')).toMatchObject({ source: 'shipped', variant: 'tiled' });
    expect(t.explain('softmax', '')).toBeNull();
    // Without a cache file the shipped entry answers.
    installTuning(gpu, null, null, { shipped, log: () => undefined });
    expect(chooseVariant(gpu, 'matmul', 'large')).toBe('splitk');
  });

  it("'auto' never searches on a software adapter, 'off' installs nothing, an installed lookup is kept", async () => {
    gpu = await testGpu();
    expect(gpu.adapter.fallback).toBe(true);
    await prepareTuning(gpu, 'off', { store: memoryStore() });
    expect(gpu.tuning).toBeNull();
    const store = memoryStore();
    await prepareTuning(gpu, 'auto', { store, shipped: [] });
    expect(store.writes).toBe(0);
    expect(gpu.tuning).not.toBeNull();
    const installed = gpu.tuning;
    await prepareTuning(gpu, 'cached', { store: memoryStore('{ corrupt') });
    expect(gpu.tuning).toBe(installed);
  });
});

describe('tuning search', () => {
  it('measures every available variant, writes the cache, and only the missing groups stay to do', async () => {
    gpu = await testGpu();
    const store = memoryStore();
    // One cheap group (layernorm at batch 1) keeps the test short.
    const r = await tuneAndCache(gpu, { budgetS: 60, store, only: (f) => f === 'layernorm', log: () => undefined, shipped: [] });
    expect(store.writes).toBe(1);
    const [e] = r.file.entries;
    expect(e.family).toBe('layernorm');
    expect(Object.keys(e.timings_ms).sort()).toEqual(availableVariants(gpu, 'layernorm').map((v) => v.name).sort());
    expect(Object.values(e.timings_ms).every((t) => t !== null && t > 0)).toBe(true);
    expect(e.winner).toBe(Object.entries(e.timings_ms).reduce((a, b) => (b[1]! < a[1]! ? b : a))[0]);
    expect(gpu.tuning?.pick('layernorm', '')).toBe(e.winner);
    const back = parseTuningFile(store.text!, 'memory');
    expect(back.entries).toEqual(r.file.entries);
    const missing = missingGroups(gpu, back);
    expect(missing.some((m) => m.family === 'layernorm')).toBe(false);
    expect(missing.some((m) => m.family === 'matmul')).toBe(true);
  }, 300_000);

  it('echoclip bench --tune with a tiny budget: the first group, the rest skipped by the budget, a cache file model loads read', async () => {
    const dir = join(tmp, 'cli');
    const out = join(tmp, 'tune.json');
    // Two cheap families (few pipelines): the first is measured, the budget cuts the second.
    expect(await benchCommand(['--tune', '--families', 'layernorm,softmax', '--budget', '0.01', '--cache-dir', dir, '--out', out])).toBe(0);
    const files = readdirSync(join(dir, 'tuning'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[a-z0-9-]+-[0-9a-f]{16}\.json$/);
    const report = JSON.parse(readFileSync(out, 'utf8')) as TuningFile & { cache: string; measured: number };
    expect(report.cache).toBe(join(dir, 'tuning', files[0]));
    expect(report.measured).toBe(1);
    expect(report.entries.map((e) => e.family)).toEqual(['layernorm']);
    expect(report.skipped.filter((s) => /^budget/.test(s.why))).toEqual([{ what: 'softmax', why: 'budget: 0.01 s spent' }]);
    gpu = await testGpu();
    const t = await loadTuning(gpu, { cacheDir: dir, shipped: [], log: () => undefined });
    expect(t.file?.entries).toHaveLength(1);
    // The file on disk is what parseTuningFile reads; a corrupted one is a warning only.
    writeFileSync(join(dir, 'tuning', files[0]), '{"truncated');
    const log: string[] = [];
    await loadTuning(gpu, { cacheDir: dir, shipped: [], log: (l) => log.push(l) });
    expect(log.join('\n')).toMatch(/tuning cache ignored: .*not JSON/);
    await expect(benchCommand(['--tune', '--suite', 'kernels'])).rejects.toThrow(/runs the tuning search alone/);
    await expect(benchCommand(['--tune', '--families', 'matmul,warp'])).rejects.toThrow(/'warp' is not one of matmul/);
  }, 300_000);
});
