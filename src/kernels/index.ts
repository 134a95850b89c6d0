// Every kernel launcher, for the public API (models import the op files directly).
export { matmul, linear, type MatmulOptions, type LinearOptions, type MatmulVariant } from './gemm/index.js';
export { patchConv2d, packConv2dWeight } from './conv2d.js';
export { depthwiseConv2d, packDepthwiseWeight } from './depthwise.js';
export { depthwiseConv2dLayerNorm } from './depthwise-layernorm.js';
export { layerNorm, layerNorm2dNCHW } from './layernorm.js';
export { gelu, add, addScaled } from './elementwise.js';
export { softmax } from './softmax.js';
export { attentionCore, multiHeadAttention, type MhaWeights } from './attention.js';
export { globalAvgPool, l2Normalize, argmaxPool } from './pooling.js';
export { tokenEmbedding } from './embedding.js';
export { contrastiveLogits, clipLoss, clipLossFromFeatures } from './contrastive.js';
