// Archive scale (README "Archive scale"): index an echo archive once — sharded across machines by
// an existing scheduler — then search, match patients and score every clip from the index.
export * from './format.js';
export * from './vectors.js';
export * from './search.js';
export { IndexWriter, openIndex, readShard, readShards, forEachShard, gatherVectors, clipFrames, writeFileDurable, type LoadedIndex, type ShardData, type EmbeddingMatrix, type ClipEmbedding } from './store-node.js';
export { buildIndex, buildReportIndex, listInputs, parseShard, shardOfPath, readCsv, hashPatientId, patientSaltId, clipIndexHeader, type BuildOptions, type BuildProgress, type BuildSummary, type InputItem, type ShardSpec } from './build-node.js';
export { mergeIndexes, type MergeSummary } from './merge-node.js';
export { zeroShotIndex, zeroShotCsv, type IndexZeroShot } from './zero-shot-node.js';
