// Zero-shot tasks, retrieval and metrics: pure math on float32 embeddings (no GPU, no I/O).

export { type HostArray, l2NormalizeRows } from './array.js';
export {
  type CategoricalResult, type RegressionResult,
  computeBinaryMetric, computeCategoricalMetric, computeRegressionMetric, perFrameSimilarities,
} from './zeroshot.js';
export { type PromptSetOptions, type PromptTask, type TaskMode, expandRegressionPrompts, parsePromptSets, selectTasks } from './prompts.js';
// Node-only file loading: './prompts-node.js' (loadPromptSetsFile).
export { type ZeroShotResult, collectPrompts, gatherRows, runZeroShotTask, runZeroShotTasks } from './run.js';
export { type ClipResult, type SeriesResult, type StudyResult, groupStudies, meanZeroShotResults } from './study.js';
export {
  type CrossModalRetrieval, crossModalRetrieval, meanAbsoluteError, meanRank, recallAtK, retrievalRanks, rocAuc,
} from './metrics.js';
export {
  type PatientMatch, type Ranked,
  cosineSimilarityMatrix, matchPatients, rankByDotProduct, rankReports, samePatientPairs, videoEmbedding,
} from './retrieval.js';
