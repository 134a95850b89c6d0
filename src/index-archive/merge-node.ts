// `echoclip index merge OUT PART...`: the union of index parts (shards of one run, or runs over
// different folders) as one new index. Parts must agree on weights, preprocessing, storage and
// patient salt (IndexMismatchError); every part is verified first (line checks, then each shard's
// size and sha256, one shard in memory at a time) and only then is OUT written: the verified shard
// files are copied unchanged (bit-identical embeddings, named p<part>-<file>), and one manifest
// lists every shard, then the entries sorted by path (the merged index order, the same as a
// single run over the whole input), then the failures of paths no part indexed.

import { copyFile, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { IndexFormatError, UsageError } from '../errors.js';
import { type ClipLine, type FailureLine, HEADER_FILE, MANIFEST_FILE, type ManifestLine, type ReportLine, SHARD_DIR, type ShardLine, assertSameHeader, encodeLine } from './format.js';
import { type LoadedIndex, openIndex, readShard, writeFileDurable } from './store-node.js';

export interface MergeSummary {
  parts: number;
  clips: number;
  failures: number;
  /** Paths found in more than one part (the first part's copy is kept). */
  duplicates: number;
}

export async function mergeIndexes(out: string, parts: readonly string[]): Promise<MergeSummary> {
  if (!parts.length) throw new UsageError('echoclip index merge', 'no index parts given', { hint: 'echoclip index merge OUT PART_DIR...' });
  if (await stat(path.join(out, HEADER_FILE)).then(() => true, () => false)) throw new UsageError(out, 'already holds an index', { hint: 'merge into a new directory' });
  const loaded: LoadedIndex[] = [];
  for (const p of parts) {
    const index = await openIndex(p);
    if (loaded.length) assertSameHeader(loaded[0]!.header, index.header, p);
    for (const file of index.shards.keys()) await readShard(index, file);
    loaded.push(index);
  }
  const header = loaded[0]!.header;
  const rename = (k: number, file: string): string => `p${k}-${file}`;
  const byKey = new Map<string, ClipLine | ReportLine>();
  let duplicates = 0;
  loaded.forEach((index, k) => {
    for (const line of [...index.clips, ...index.reports]) {
      const key = line.type === 'clip' ? line.path : `report:${line.id}`;
      const prev = byKey.get(key);
      if (prev) {
        duplicates++;
        if (prev.type === 'clip' && line.type === 'clip' && prev.sha256 !== line.sha256) {
          throw new IndexFormatError(index.dir, `holds ${line.path} with different content (sha256) than an earlier part`, { hint: 'the file changed between runs: re-index it in one part' });
        }
        continue;
      }
      byKey.set(key, { ...line, shard: rename(k, line.shard) });
    }
  });
  const failures = new Map<string, FailureLine>();
  for (const index of loaded) for (const f of index.failures) if (!byKey.has(f.path) && !failures.has(f.path)) failures.set(f.path, f);
  const sortByKey = <T>(m: Map<string, T>): T[] => [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => m.get(k)!);

  await mkdir(path.join(out, SHARD_DIR), { recursive: true });
  const shardLines: ShardLine[] = [];
  for (const [k, index] of loaded.entries()) {
    for (const s of index.shards.values()) {
      const dst = path.join(out, SHARD_DIR, rename(k, s.file));
      await copyFile(path.join(index.dir, SHARD_DIR, s.file), dst);
      const fh = await open(dst, 'r+');
      await fh.sync().finally(() => fh.close());
      shardLines.push({ ...s, file: rename(k, s.file) });
    }
  }
  const lines: ManifestLine[] = [...shardLines, ...sortByKey(byKey), ...sortByKey(failures)];
  // The manifest is written whole and atomically; the header last: a merge cut short is no index.
  await writeFileDurable(path.join(out, MANIFEST_FILE), lines.map(encodeLine).join(''));
  await writeFileDurable(path.join(out, HEADER_FILE), JSON.stringify(header, null, 2) + '\n');
  // Re-open what was written: the copies must verify like the originals.
  const merged = await openIndex(out);
  for (const file of merged.shards.keys()) await readShard(merged, file);
  return { parts: parts.length, clips: byKey.size, failures: failures.size, duplicates };
}
