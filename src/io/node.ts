// Weights I/O, Node-only part (files, HTTP). Never imported by the browser bundle.
export { fileByteSource } from './file-node.js';
export type { DownloadProgress, HubOptions } from './hub-node.js';
export { DEFAULT_HUB_URL, HubFileNotFoundError, downloadHubFile, hubBaseUrl, hubCacheDir, hubRepoDir, parseHubId } from './hub-node.js';
export type { OpenWeightsOptions, OpenedWeights, WeightsFiles } from './weights-node.js';
export { openWeights, openWeightsFile, resolveWeightsFiles } from './weights-node.js';
