// `echoclip index` end to end on the tiny model: 4 shard processes at once over 40 files (36 short
// clips, 4 corrupt), one SIGKILLed midway and rerun with --resume; the merged index must equal a
// single-process index (same clips, bit-identical embeddings, same failures). Then zero-shot
// from the index against `echoclip zero-shot --video`, and the search commands.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipFrames, openIndex, readShards, type LoadedIndex } from '../../src/index-archive/store-node.js';
import { hashPatientId, shardOfPath } from '../../src/index-archive/build-node.js';
import { PATIENT_ID, PROMPTS, STUDY_UID, TINY, cli, writeArchive } from '../index/clips.js';

const root = mkdtempSync(join(tmpdir(), 'echoclip-index-'));
const archive = join(root, 'archive');
const env = { ECHOCLIP_CACHE_DIR: join(root, 'cache') };
const common = ['--input', archive, '--weights', TINY, '--frames', '0:2', '--patient-salt', 'test-salt'];
let files: { good: string[]; corrupt: string[] };

/** path → (frames bits, video bits) of every clip, and the failure list, sorted by path. */
async function contents(dir: string): Promise<{ clips: Map<string, string>; failures: string[]; index: LoadedIndex }> {
  const index = await openIndex(dir);
  const shards = await readShards(index, index.clips);
  const D = index.header.model.embedDim;
  const clips = new Map<string, string>();
  for (const c of index.clips) {
    const s = shards.get(c.shard)!;
    const f = clipFrames(s, c.row, D);
    const v = s.video.subarray(c.row * D, (c.row + 1) * D);
    clips.set(c.path, `${c.sha256}|${c.frames}|${Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64')}|${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}`);
  }
  return { clips, failures: index.failures.map((f) => `${f.path}: ${f.code}: ${f.error}`).sort(), index };
}

beforeAll(() => {
  files = writeArchive(archive, 35);
});

describe('echoclip index (sharded, resumable)', () => {
  it('4 shards at once, one killed and resumed, merge to the single-process index', async () => {
    const single = cli(['index', ...common, '--out', join(root, 'single'), '--flush-every', '8'], env);
    let killed = false;
    const parts = [0, 1, 2, 3].map((i) => cli(['index', ...common, '--out', join(root, `part-${i}`), '--shard', `${i}/4`, '--flush-every', '2'], env, (c) => {
      if (i !== 1) return;
      // Kill shard 1 as soon as its first batch is committed (a shard line in the manifest).
      const poll = setInterval(() => {
        let m = '';
        try { m = readFileSync(join(root, 'part-1', 'manifest.jsonl'), 'utf8'); } catch { /* not yet */ }
        if (m.includes('"type":"clip"')) { clearInterval(poll); killed = c.kill('SIGKILL'); }
      }, 20);
      c.on('close', () => clearInterval(poll));
    }));
    const results = await Promise.all([single, ...parts]);
    expect(results[0]!.code, results[0]!.stderr).toBe(0);
    expect(results[0]!.stderr).toMatch(/clips\/s, ETA/);
    expect(killed).toBe(true);
    expect(results[2]!.signal).toBe('SIGKILL');
    for (const k of [1, 3, 4]) expect(results[k]!.code, results[k]!.stderr).toBe(0);
    const partial = await openIndex(join(root, 'part-1'));
    const expected1 = [...files.good, ...files.corrupt].filter((p) => shardOfPath(p, 4) === 1).length;
    expect(partial.clips.length + partial.failures.length).toBeLessThan(expected1);
    // Without --resume an existing index is refused; with it the rest is done.
    const refused = await cli(['index', ...common, '--out', join(root, 'part-1'), '--shard', '1/4'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--resume/);
    const resumed = await cli(['index', ...common, '--out', join(root, 'part-1'), '--shard', '1/4', '--flush-every', '2', '--resume'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/already there/);
    const merged = await cli(['index', 'merge', join(root, 'merged'), ...[0, 1, 2, 3].map((i) => join(root, `part-${i}`))], env);
    expect(merged.code, merged.stderr).toBe(0);

    const a = await contents(join(root, 'single'));
    const b = await contents(join(root, 'merged'));
    expect(a.clips.size).toBe(36);
    const dcm = a.index.clips.find((c) => c.path === 'dicom/cine.dcm')!;
    expect(dcm).toMatchObject({ studyInstanceUid: STUDY_UID, seriesInstanceUid: `${STUDY_UID}.1`, sopInstanceUid: `${STUDY_UID}.1.1`, frames: 2 });
    expect(a.index.failures.find((f) => f.path === 'dicom/report.dcm')!.error).toMatch(/Structured Report/);
    // The DICOM Patient ID is stored salted, never in clear.
    expect(dcm.patient).toBe(hashPatientId('test-salt', PATIENT_ID));
    expect(readFileSync(join(root, 'merged', 'manifest.jsonl'), 'utf8')).not.toContain(PATIENT_ID);
    expect(b.index.clips.find((c) => c.path === 'dicom/cine.dcm')!.patient).toBe(dcm.patient);
    expect([...b.clips.keys()]).toEqual([...a.clips.keys()].sort());
    for (const [p, v] of a.clips) expect(b.clips.get(p), p).toBe(v);
    expect(b.failures).toEqual(a.failures);
    expect(a.failures.map((f) => f.split(':')[0])).toEqual([...files.corrupt].sort());
    const verify = await cli(['index', 'verify', join(root, 'merged'), '--json'], env);
    expect(JSON.parse(verify.stdout)).toMatchObject({ clips: 36, failures: 5 });
  });

  it('zero-shot from the index equals echoclip zero-shot on the same clips', async () => {
    // Exact parity needs the frames as the direct run has them: f32 storage (the default; given
    // explicitly for the two-clip index from a LIST.txt). f16 storage's 2^-11 rounding can move a
    // regression's rank median by a prompt value or two, which is why it is not the default.
    const picked = [files.good[0]!, files.good[7]!];
    writeFileSync(join(root, 'list.txt'), picked.map((p) => `archive/${p}`).join('\n') + '\n');
    const built = await cli(['index', '--input', join(root, 'list.txt'), '--out', join(root, 'f32'), '--weights', TINY, '--frames', '0:2', '--storage', 'f32'], env);
    expect(built.code, built.stderr).toBe(0);
    type R = Record<string, { mode: string; score?: number; prediction?: number; label?: string }>;
    const fromIndex = async (dir: string, out: string): Promise<Map<string, R>> => {
      const r = await cli(['zero-shot', '--index', dir, '--weights', TINY, '--prompts', PROMPTS, '--out', out], env);
      expect(r.code, r.stderr).toBe(0);
      if (out.endsWith('.csv')) return new Map();
      return new Map((JSON.parse(readFileSync(out, 'utf8')) as { path: string; results: R }[]).map((x) => [x.path.replace(/^archive\//, ''), x.results]));
    };
    const f32 = await fromIndex(join(root, 'f32'), join(root, 'zs32.json'));
    const whole = await fromIndex(join(root, 'single'), join(root, 'zs-all.json'));
    expect(whole.size).toBe(36);
    await fromIndex(join(root, 'single'), join(root, 'zs.csv'));
    expect(readFileSync(join(root, 'zs.csv'), 'utf8').split('\n')[0]).toMatch(/^path,frames,/);
    for (const clip of picked) {
      const direct = await cli(['zero-shot', '--video', join(archive, clip), '--weights', TINY, '--prompts', PROMPTS, '--frames', '0:2', '--json'], env);
      expect(direct.code, direct.stderr).toBe(0);
      const want = JSON.parse(direct.stdout) as R;
      // Both indexes store f32 (the default): held to the bounds.
      for (const [got, tol] of [[f32.get(clip)!, { binary: 1e-4, regression: 0.5 }], [whole.get(clip)!, { binary: 1e-4, regression: 0.5 }]] as const) {
        expect(Object.keys(got)).toEqual(Object.keys(want));
        for (const [task, w] of Object.entries(want)) {
          const g = got[task]!;
          if (w.mode === 'binary') expect(Math.abs(g.score! - w.score!), task).toBeLessThanOrEqual(tol.binary);
          else if (w.mode === 'regression') {
            expect(Math.abs(g.prediction! - w.prediction!), task).toBeLessThanOrEqual(tol.regression);
          }
          else if (tol.binary === 1e-4) expect(g.label, task).toBe(w.label);
        }
      }
    }
  });

  it('search --index: text → clips, clip → nearest clips (itself first)', async () => {
    const q = files.good[4]!;
    const r = await cli(['search', '--index', join(root, 'single'), '--weights', TINY, '--tokenizer', 'bpe', '--video', join(archive, q), '--top', '3', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const hits = (JSON.parse(r.stdout) as { hits: { id: string; score: number }[] }).hits;
    expect(hits).toHaveLength(3);
    expect(hits[0]!.id).toBe(q);
    expect(hits[0]!.score).toBeCloseTo(1, 2);
    const t = await cli(['search', '--index', join(root, 'single'), '--weights', TINY, '--tokenizer', 'bpe', '--text', 'severe aortic stenosis', '--top', '5', '--json'], env);
    expect(t.code, t.stderr).toBe(0);
    expect((JSON.parse(t.stdout) as { hits: unknown[] }).hits).toHaveLength(5);
  });

  it('reports index: clip → reports, and the labelled metrics', async () => {
    const reports = ['normal left ventricular size and function', 'severe aortic stenosis', 'moderate mitral regurgitation', 'dilated right ventricle', 'small pericardial effusion'];
    writeFileSync(join(root, 'reports.csv'), 'id,report\n' + reports.map((r, i) => `r${i},"${r}"`).join('\n') + '\n');
    const built = await cli(['index', '--reports', join(root, 'reports.csv'), '--out', join(root, 'reports'), '--weights', TINY, '--tokenizer', 'bpe'], env);
    expect(built.code, built.stderr).toBe(0);
    const q = files.good[2]!;
    const r = await cli(['search', '--index', join(root, 'single'), '--reports-index', join(root, 'reports'), '--weights', TINY, '--tokenizer', 'bpe', '--video', join(archive, q), '--top', '3', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const hits = (JSON.parse(r.stdout) as { hits: { id: string; text: string }[] }).hits;
    expect(hits).toHaveLength(3);
    expect(reports).toContain(hits[0]!.text);
    // Patients: the clip's folder (p0..p4) stands in for the patient.
    writeFileSync(join(root, 'patients.csv'), 'path,patient_id\n' + files.good.map((p) => `${p},${p.split('/')[0]}`).join('\n') + '\n');
    const pm = await cli(['search', '--index', join(root, 'single'), '--weights', TINY, '--tokenizer', 'bpe', '--labels', join(root, 'patients.csv'), '--json'], env);
    expect(pm.code, pm.stderr).toBe(0);
    const m = JSON.parse(pm.stdout) as { clips: number; auc: number; retrieval: { recallAt1: number } };
    expect(m.clips).toBe(36);
    expect(m.auc).toBeGreaterThanOrEqual(0);
    expect(m.auc).toBeLessThanOrEqual(1);
    writeFileSync(join(root, 'pairs.csv'), 'path,report_id\n' + files.good.slice(0, 10).map((p, i) => `${p},r${i % 5}`).join('\n') + '\n');
    const rr = await cli(['search', '--index', join(root, 'single'), '--reports-index', join(root, 'reports'), '--weights', TINY, '--tokenizer', 'bpe', '--labels', join(root, 'pairs.csv'), '--json'], env);
    expect(rr.code, rr.stderr).toBe(0);
    expect(JSON.parse(rr.stdout)).toMatchObject({ queries: 10, candidates: 5 });
  });
});
