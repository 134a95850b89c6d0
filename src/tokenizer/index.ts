// Public, platform-neutral tokenizer API (bytes and strings in, Int32Array rows out).
// File loading for Node lives in load-node.ts so that browser bundles never import node:fs.
export { ClipBpeTokenizer, CLIP_EOT, CLIP_SOT, CLIP_VOCAB_SIZE, CONTEXT_LENGTH, clipCleanText, clipPreTokens } from './clip-bpe.js';
export type { ClipBpeOptions } from './clip-bpe.js';
export { TemplateTokenizer, TEMPLATE_CONTEXT_LENGTH, VARIABLE_VOCAB } from './template.js';
export type { TemplateTrace } from './template.js';
export { AddedVocabTokenizer } from './added-vocab.js';
export type { AddedVocabEncoding } from './added-vocab.js';
export { cleanReportText, extractVariables } from './report-clean.js';
export { fixText } from './ftfy.js';
export { pythonHtmlUnescape } from './html.js';
