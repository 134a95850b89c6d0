// CPU references and layout helpers shared by the norm/attention/misc kernel tests: they live in
// the library (echoclip selfcheck ships them).
export { attentionRef, layerNormRef, linearRef, nchwToNhwc, softmaxRef, swap01 } from '../../src/selfcheck/cpu-ref.js';
