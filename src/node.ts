// Node-only helpers: weights from directories, files and the hub cache; tokenizer and video files.
export * from './io/node.js';
export { openWeights, openWeightsFile, resolveWeightsFiles, type OpenedWeights, type OpenWeightsOptions } from './io/weights-node.js';
export { loadClipBpeTokenizer, loadTemplateTokenizer } from './tokenizer/load-node.js';
export { preprocessVideoFile, readVideoFile } from './video/video-node.js';
export { listStudyFiles, skipReason, zeroShotStudy, type StudyFileEvent, type StudyOptions, type StudyReport } from './api/study-node.js';
// The Node/Deno platform of the one-line API (loaded by EchoClip at run time) and the pinned-file cache.
export { nodePlatform, pinnedAssetFile, pinnedAssetPath } from './api/platform-node.js';
// Archive scale: build / merge / open an archive index, search it, zero-shot from it (README "Archive scale").
export { buildIndex, buildReportIndex, mergeIndexes, openIndex, gatherVectors, zeroShotIndex, topK as indexTopK, scanScores as indexScanScores, evaluateRetrieval as evaluateIndexRetrieval, evaluatePatientMatch as evaluateIndexPatientMatch, parseShard, type BuildOptions as IndexBuildOptions, type LoadedIndex, type IndexHeader } from './index-archive/index.js';
export { searchText as searchIndexText, searchClip as searchIndexClip, embedClipLikeIndex } from './index-archive/query-node.js';
