// Index files as written and damaged: atomic shards, line checks, torn tails, typed errors for a
// truncated shard, an edited manifest and mismatched weights — and nothing already written lost.
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexFormatError, IndexMismatchError, UsageError } from '../../src/errors.js';
import type { EchoClip } from '../../src/api/echoclip.js';
import { buildIndex, hashPatientId, listInputs, parseShard, shardOfPath } from '../../src/index-archive/build-node.js';
import { INDEX_FORMAT, INDEX_VERSION, type IndexHeader } from '../../src/index-archive/format.js';
import { mergeIndexes } from '../../src/index-archive/merge-node.js';
import { IndexWriter, gatherVectors, openIndex, readShards } from '../../src/index-archive/store-node.js';

const D = 8;
const header = (sha = 'aa'): IndexHeader => ({ format: INDEX_FORMAT, version: INDEX_VERSION, kind: 'clips', model: { weightsSha256: sha, weightDtype: 'f32', embedDim: D }, preprocessing: { frames: '0:2', trueRgb: false, imageSize: 224 }, storage: 'f16', patientSaltId: null });

async function write(dir: string, paths: string[], opts: { sha?: string; resume?: boolean; flush?: number } = {}): Promise<void> {
  const w = await IndexWriter.open(dir, header(opts.sha), { resume: !!opts.resume, tag: 'clips' });
  for (const p of paths) {
    const v = Float32Array.from({ length: 2 * D }, (_, i) => (i + p.length) / 16);
    w.add({ type: 'clip', path: p, size: 1, mtimeMs: 0, sha256: p, frames: 2 }, { frames: v, video: v.subarray(0, D) });
    if (w.pendingCount >= (opts.flush ?? 2)) await w.flush();
  }
  await w.flush();
  await w.fail({ type: 'failure', path: `bad-${paths[0]}`, error: 'broken', code: 'video-decode' });
}

const snapshot = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const f of ['index.json', 'manifest.jsonl', ...readdirSync(join(dir, 'shards')).map((s) => `shards/${s}`)]) out[f] = readFileSync(join(dir, f)).toString('base64');
  return out;
};

describe('index format', () => {
  it('reads back what it wrote; no temporary files left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    await write(dir, ['a', 'bb', 'ccc']);
    const idx = await openIndex(dir);
    expect(idx.clips.map((c) => c.path)).toEqual(['a', 'bb', 'ccc']);
    expect(idx.failures).toHaveLength(1);
    expect(idx.shards.size).toBe(2);
    expect((await gatherVectors(idx, idx.clips)).rows).toBe(3);
    expect(readdirSync(join(dir, 'shards')).filter((f) => f.includes('.tmp'))).toEqual([]);
    await expect(IndexWriter.open(dir, header(), { resume: false, tag: 'clips' })).rejects.toThrow(UsageError);
  });

  it('a torn last line is ignored, cut on resume, and the run continues', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    await write(dir, ['a', 'bb']);
    const before = readFileSync(join(dir, 'manifest.jsonl'), 'utf8');
    appendFileSync(join(dir, 'manifest.jsonl'), '{"type":"clip","path":"half');
    const torn = await openIndex(dir);
    expect(torn.tornTail).toBe(true);
    expect(torn.clips).toHaveLength(2);
    await write(dir, ['dddd'], { resume: true });
    const after = readFileSync(join(dir, 'manifest.jsonl'), 'utf8');
    expect(after.startsWith(before)).toBe(true);
    expect((await openIndex(dir)).clips.map((c) => c.path)).toEqual(['a', 'bb', 'dddd']);
  });

  it('truncated shard, edited manifest, mismatched weights: typed errors, files untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    await write(dir, ['a', 'bb', 'ccc', 'dddd']);
    const shard = join(dir, 'shards', readdirSync(join(dir, 'shards'))[0]!);
    const good = snapshot(dir);

    truncateSync(shard, statSync(shard).size - 5);
    const idx = await openIndex(dir);
    await expect(readShards(idx, idx.clips)).rejects.toThrow(IndexFormatError);
    await expect(readShards(idx, idx.clips)).rejects.toThrow(/truncated/);
    await expect(mergeIndexes(join(dir, '..', `m-${Date.now()}`), [dir])).rejects.toThrow(IndexFormatError);
    writeFileSync(shard, Buffer.from(good[`shards/${shard.split('/').pop()}`]!, 'base64'));

    const m = readFileSync(join(dir, 'manifest.jsonl'), 'utf8');
    writeFileSync(join(dir, 'manifest.jsonl'), m.replace('"path":"bb"', '"path":"zz"'));
    await expect(openIndex(dir)).rejects.toThrow(IndexFormatError);
    await expect(openIndex(dir)).rejects.toThrow(/line 3.*edited/);
    // Resuming onto an edited manifest refuses too (and appends nothing).
    await expect(write(dir, ['eeeee'], { resume: true })).rejects.toThrow(IndexFormatError);
    expect(readFileSync(join(dir, 'manifest.jsonl'), 'utf8')).toBe(m.replace('"path":"bb"', '"path":"zz"'));
    writeFileSync(join(dir, 'manifest.jsonl'), m);
    expect(snapshot(dir)).toEqual(good);

    const other = mkdtempSync(join(tmpdir(), 'idx-'));
    await write(other, ['x'], { sha: 'bb' });
    const out = join(tmpdir(), `merged-${Date.now()}`);
    await expect(mergeIndexes(out, [dir, other])).rejects.toThrow(IndexMismatchError);
    await expect(mergeIndexes(out, [dir, other])).rejects.toThrow(/weights sha256 differs/);
    await expect(write(dir, ['y'], { sha: 'bb', resume: true })).rejects.toThrow(IndexMismatchError);
    expect(snapshot(dir)).toEqual(good);
    // Merging good parts works and the inputs stay as they were.
    const third = mkdtempSync(join(tmpdir(), 'idx-'));
    await write(third, ['b', 'a']);
    await mergeIndexes(out, [dir, third]);
    const merged = await openIndex(out);
    expect(merged.clips.map((c) => c.path)).toEqual(['a', 'b', 'bb', 'ccc', 'dddd']);
    expect(merged.failures.map((f) => f.path)).toEqual(['bad-a', 'bad-b']);
    expect(snapshot(dir)).toEqual(good);
  });

  it('shards: I/N and auto/N from the scheduler environment; a deterministic partition', () => {
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(parseShard('auto/4', { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 3, count: 4 });
    expect(parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '1' })).toEqual({ index: 1, count: 4 });
    expect(() => parseShard('auto/4', {})).toThrow(UsageError);
    expect(() => parseShard('4/4')).toThrow(UsageError);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 400; i++) counts[shardOfPath(`p/${i}.avi`, 4)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(60);
    expect(shardOfPath('p/1.avi', 4)).toBe(shardOfPath('p/1.avi', 4));
  });

  it('inputs: manifest.csv with patient ids needs a salt; ids are stored salted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-in-'));
    writeFileSync(join(dir, 'manifest.csv'), 'path,patient_id\nb.avi,P2\na.avi,"P,1"\nb.avi,P2\n');
    writeFileSync(join(dir, 'list.txt'), '# clips\nz.avi\n\na.avi\n');
    expect(await listInputs(join(dir, 'manifest.csv'))).toEqual([
      { path: 'a.avi', file: join(dir, 'a.avi'), patientId: 'P,1' },
      { path: 'b.avi', file: join(dir, 'b.avi'), patientId: 'P2' },
    ]);
    expect((await listInputs(join(dir, 'list.txt'))).map((i) => i.path)).toEqual(['a.avi', 'z.avi']);
    // Refused before the model is touched.
    await expect(buildIndex({} as EchoClip, { input: join(dir, 'manifest.csv'), out: join(dir, 'out') })).rejects.toThrow(/salt/);
    expect(hashPatientId('s1', 'P2')).toBe(hashPatientId('s1', 'P2'));
    expect(hashPatientId('s1', 'P2')).not.toBe(hashPatientId('s2', 'P2'));
    expect(hashPatientId('s1', 'P2')).toMatch(/^[0-9a-f]{32}$/);
  });
});
