// open_clip model configuration (open_clip_config.json) for the architecture EchoCLIP uses: a timm
// ConvNeXt image tower with a linear head and open_clip's causal text transformer. Also the
// state-dict layout the configuration implies, and validation of a weights file against it.
import { ConfigError, WeightsMismatchError } from '../errors.js';
import type { DType } from '../io/dtype.js';
import type { TensorInfo } from '../io/source.js';

export interface VisionConfig {
  /** timm model name, e.g. "convnext_base". */
  timmModelName: string;
  /** Blocks per stage and channels per stage (timm defaults for the name, merged with timm_model_kwargs). */
  depths: number[];
  dims: number[];
  imageSize: number;
  /** Stochastic-depth rate (training only). */
  dropPath: number;
  /** LayerNorm eps of every ConvNeXt norm (timm default). */
  layerNormEps: number;
}

export interface TextConfig {
  contextLength: number;
  vocabSize: number;
  width: number;
  heads: number;
  layers: number;
  /** MLP hidden = mlpRatio × width. */
  mlpRatio: number;
  /** nn.LayerNorm default. */
  layerNormEps: number;
}

export interface ClipConfig {
  embedDim: number;
  vision: VisionConfig;
  text: TextConfig;
  preprocess: { mean: [number, number, number]; std: [number, number, number] };
}

/** timm ConvNeXt variants (timm 0.9 `convnext.py`): depths and dims. */
const CONVNEXT_VARIANTS: Readonly<Record<string, { depths: number[]; dims: number[] }>> = {
  convnext_atto: { depths: [2, 2, 6, 2], dims: [40, 80, 160, 320] },
  convnext_femto: { depths: [2, 2, 6, 2], dims: [48, 96, 192, 384] },
  convnext_pico: { depths: [2, 2, 6, 2], dims: [64, 128, 256, 512] },
  convnext_nano: { depths: [2, 2, 8, 2], dims: [80, 160, 320, 640] },
  convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
  convnext_xlarge: { depths: [3, 3, 27, 3], dims: [256, 512, 1024, 2048] },
};

export const OPENAI_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
  return Object.freeze(o);
}

/**
 * EchoCLIP (`hf-hub:mkaichristensen/echo-clip`) and EchoCLIP-R (`.../echo-clip-r`) share this
 * configuration, open_clip's built-in `convnext_base` (reference §1.2); only the tokenizer differs.
 */
export const ECHOCLIP_CONFIG: Readonly<ClipConfig> = deepFreeze({
  embedDim: 512,
  vision: { timmModelName: 'convnext_base', depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024], imageSize: 224, dropPath: 0.1, layerNormEps: 1e-6 },
  text: { contextLength: 77, vocabSize: 49408, width: 512, heads: 8, layers: 12, mlpRatio: 4, layerNormEps: 1e-5 },
  preprocess: { mean: [...OPENAI_MEAN], std: [...OPENAI_STD] },
});
export const ECHOCLIP_R_CONFIG: Readonly<ClipConfig> = ECHOCLIP_CONFIG;

/** Built-in configurations by hub id or short name. */
export function builtinConfig(name: string): ClipConfig {
  const short = name.replace(/^hf-hub:/, '').replace(/^mkaichristensen\//, '');
  if (short === 'echo-clip' || short === 'echo-clip-r') return structuredClone(ECHOCLIP_CONFIG) as ClipConfig;
  throw new ConfigError(name, 'no built-in configuration', { hint: "known: 'echo-clip', 'echo-clip-r'; or give a directory with open_clip_config.json" });
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses open_clip_config.json (text or parsed JSON). Accepts the hub layout
 * `{"model_cfg": …, "preprocess_cfg": …}` and a bare model config. Settings that would change the
 * computation in ways this library does not implement are rejected, never silently ignored.
 */
export function parseOpenClipConfig(input: string | unknown, label = 'open_clip_config.json'): ClipConfig {
  let json: unknown = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (e) { throw new ConfigError(label, `not valid JSON (${(e as Error).message})`, { hint: 'the file is corrupt' }); }
  }
  if (!isObj(json)) throw new ConfigError(label, 'expected a JSON object', { hint: 'see open_clip\'s open_clip_config.json format' });
  const model = isObj(json.model_cfg) ? json.model_cfg : json;
  const pre = isObj(json.preprocess_cfg) ? json.preprocess_cfg : {};

  function bad(key: string, why: string, hint = 'only open_clip CLIP models with a timm ConvNeXt image tower are supported'): never {
    throw new ConfigError(`${label}: ${key}`, why, { hint });
  }
  const int = (o: Obj, path: string, key: string, fallback?: number, min = 1): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(`${path}${key}`, `expected an integer ≥ ${min}, found ${JSON.stringify(v)}`, 'fix the configuration');
    return v;
  };
  const num = (o: Obj, path: string, key: string, fallback: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${path}${key}`, `expected a number, found ${JSON.stringify(v)}`, 'fix the configuration');
    return v;
  };
  const triple = (v: unknown, key: string, fallback: [number, number, number]): [number, number, number] => {
    if (v === undefined || v === null) return [...fallback];
    if (typeof v === 'number' && Number.isFinite(v)) return [v, v, v];
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as [number, number, number];
    return bad(`preprocess_cfg.${key}`, `expected 3 numbers, found ${JSON.stringify(v)}`, 'fix the configuration');
  };

  const embedDim = int(model, '', 'embed_dim');
  if (model.quick_gelu === true) bad('quick_gelu', 'QuickGELU models are not supported (EchoCLIP uses exact GELU)');
  if (model.custom_text === true || isObj(model.multimodal_cfg)) bad('model_cfg', 'custom/multimodal text towers are not supported');

  const v = model.vision_cfg;
  if (!isObj(v)) return bad('vision_cfg', 'missing');
  const name = v.timm_model_name;
  if (typeof name !== 'string') return bad('vision_cfg.timm_model_name', `expected a timm ConvNeXt name, found ${JSON.stringify(name)}`);
  const variant = CONVNEXT_VARIANTS[name];
  if (!variant) return bad('vision_cfg.timm_model_name', `'${name}' is not a supported timm ConvNeXt`, `supported: ${Object.keys(CONVNEXT_VARIANTS).join(', ')}`);
  if ((v.timm_pool ?? '') !== '') bad('vision_cfg.timm_pool', `'${String(v.timm_pool)}' is not supported (only "", timm's avg pool + norm head)`);
  if ((v.timm_proj ?? 'linear') !== 'linear') bad('vision_cfg.timm_proj', `'${String(v.timm_proj)}' is not supported (only "linear")`);
  if (v.timm_proj_bias === true) bad('vision_cfg.timm_proj_bias', 'a projection bias is not supported');
  const kw = v.timm_model_kwargs ?? {};
  if (!isObj(kw)) return bad('vision_cfg.timm_model_kwargs', 'expected an object');
  for (const k of Object.keys(kw)) if (k !== 'depths' && k !== 'dims') bad(`vision_cfg.timm_model_kwargs.${k}`, 'unsupported timm kwarg (only depths and dims)');
  const list4 = (val: unknown, key: string, fallback: number[]): number[] => {
    if (val === undefined) return fallback.slice();
    if (!Array.isArray(val) || val.length !== 4 || !val.every((x) => Number.isInteger(x) && x >= 1)) return bad(`vision_cfg.timm_model_kwargs.${key}`, `expected 4 positive integers, found ${JSON.stringify(val)}`, 'fix the configuration');
    return (val as number[]).slice();
  };
  const imageSize = int(v, 'vision_cfg.', 'image_size', 224);
  if (imageSize % 32 !== 0) bad('vision_cfg.image_size', `${imageSize} is not a multiple of 32 (ConvNeXt downsamples by 32)`, 'fix the configuration');
  const vision: VisionConfig = {
    timmModelName: name,
    depths: list4(kw.depths, 'depths', variant.depths),
    dims: list4(kw.dims, 'dims', variant.dims),
    imageSize,
    dropPath: num(v, 'vision_cfg.', 'timm_drop_path', 0),
    layerNormEps: 1e-6,
  };

  const t = model.text_cfg;
  if (!isObj(t)) return bad('text_cfg', 'missing');
  if (typeof t.hf_model_name === 'string') bad('text_cfg.hf_model_name', 'Hugging Face text towers are not supported');
  for (const [k, def] of [['ls_init_value', null], ['no_causal_mask', false], ['proj_bias', false], ['embed_cls', false], ['pad_id', 0]] as const) {
    if (t[k] !== undefined && t[k] !== def) bad(`text_cfg.${k}`, `${JSON.stringify(t[k])} is not supported`);
  }
  if ((t.pool_type ?? 'argmax') !== 'argmax') bad('text_cfg.pool_type', `'${String(t.pool_type)}' is not supported (only argmax)`);
  const width = int(t, 'text_cfg.', 'width', 512);
  const heads = int(t, 'text_cfg.', 'heads', 8);
  if (width % heads !== 0) bad('text_cfg.heads', `width ${width} is not divisible by ${heads} heads`, 'fix the configuration');
  const mlpRatio = num(t, 'text_cfg.', 'mlp_ratio', 4);
  if (!Number.isInteger(mlpRatio * width) || mlpRatio <= 0) bad('text_cfg.mlp_ratio', `${mlpRatio} × ${width} is not a positive integer`, 'fix the configuration');
  const text: TextConfig = {
    contextLength: int(t, 'text_cfg.', 'context_length', 77),
    vocabSize: int(t, 'text_cfg.', 'vocab_size', 49408),
    width,
    heads,
    layers: int(t, 'text_cfg.', 'layers', 12),
    mlpRatio,
    layerNormEps: 1e-5,
  };
  const preprocess = { mean: triple(pre.mean, 'mean', OPENAI_MEAN), std: triple(pre.std, 'std', OPENAI_STD) };
  if (preprocess.std.some((s) => s <= 0)) bad('preprocess_cfg.std', `must be positive, found ${JSON.stringify(preprocess.std)}`, 'fix the configuration');
  return { embedDim, vision, text, preprocess };
}

/** open_clip_config.json text for a configuration (as open_clip's save_config_for_hf writes it, indent 2). */
export function toOpenClipConfigJson(c: ClipConfig): string {
  const variant = CONVNEXT_VARIANTS[c.vision.timmModelName];
  const sameAsVariant = variant && JSON.stringify(variant.depths) === JSON.stringify(c.vision.depths) && JSON.stringify(variant.dims) === JSON.stringify(c.vision.dims);
  const visionCfg: Obj = {
    timm_model_name: c.vision.timmModelName,
    timm_model_pretrained: false,
    timm_pool: '',
    timm_proj: 'linear',
    timm_drop: 0.0,
    timm_drop_path: c.vision.dropPath,
    image_size: c.vision.imageSize,
  };
  if (!sameAsVariant) visionCfg.timm_model_kwargs = { depths: c.vision.depths, dims: c.vision.dims };
  const textCfg: Obj = { context_length: c.text.contextLength, vocab_size: c.text.vocabSize, width: c.text.width, heads: c.text.heads, layers: c.text.layers };
  if (c.text.mlpRatio !== 4) textCfg.mlp_ratio = c.text.mlpRatio;
  // Python's json.dump writes 0.0 / 0.1 as floats; JSON.stringify drops ".0", which parses identically.
  return JSON.stringify({ model_cfg: { embed_dim: c.embedDim, vision_cfg: visionCfg, text_cfg: textCfg }, preprocess_cfg: { mean: c.preprocess.mean, std: c.preprocess.std } }, null, 2);
}

/** One expected state-dict entry. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/**
 * Every state-dict key the configuration implies, in torch's state_dict order (module registration
 * order of open_clip CLIP + timm ConvNeXt; reference §2.5): 493 tensors for EchoCLIP.
 */
export function expectedStateDict(c: ClipConfig): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  const add = (name: string, ...shape: number[]): void => { out.push({ name, shape }); };
  const { width: W, contextLength: L, vocabSize: V, layers } = c.text;
  const H = Math.round(c.text.mlpRatio * W);
  add('positional_embedding', L, W);
  add('text_projection', W, c.embedDim);
  add('logit_scale');
  const { depths, dims } = c.vision;
  add('visual.trunk.stem.0.weight', dims[0], 3, 4, 4);
  add('visual.trunk.stem.0.bias', dims[0]);
  add('visual.trunk.stem.1.weight', dims[0]);
  add('visual.trunk.stem.1.bias', dims[0]);
  for (let s = 0; s < 4; s++) {
    const C = dims[s];
    const p = `visual.trunk.stages.${s}`;
    if (s > 0) {
      const Cin = dims[s - 1];
      add(`${p}.downsample.0.weight`, Cin);
      add(`${p}.downsample.0.bias`, Cin);
      add(`${p}.downsample.1.weight`, C, Cin, 2, 2);
      add(`${p}.downsample.1.bias`, C);
    }
    for (let b = 0; b < depths[s]; b++) {
      const q = `${p}.blocks.${b}`;
      add(`${q}.gamma`, C);
      add(`${q}.conv_dw.weight`, C, 1, 7, 7);
      add(`${q}.conv_dw.bias`, C);
      add(`${q}.norm.weight`, C);
      add(`${q}.norm.bias`, C);
      add(`${q}.mlp.fc1.weight`, 4 * C, C);
      add(`${q}.mlp.fc1.bias`, 4 * C);
      add(`${q}.mlp.fc2.weight`, C, 4 * C);
      add(`${q}.mlp.fc2.bias`, C);
    }
  }
  add('visual.trunk.head.norm.weight', dims[3]);
  add('visual.trunk.head.norm.bias', dims[3]);
  add('visual.head.proj.weight', c.embedDim, dims[3]);
  for (let l = 0; l < layers; l++) {
    const q = `transformer.resblocks.${l}`;
    add(`${q}.ln_1.weight`, W);
    add(`${q}.ln_1.bias`, W);
    add(`${q}.attn.in_proj_weight`, 3 * W, W);
    add(`${q}.attn.in_proj_bias`, 3 * W);
    add(`${q}.attn.out_proj.weight`, W, W);
    add(`${q}.attn.out_proj.bias`, W);
    add(`${q}.ln_2.weight`, W);
    add(`${q}.ln_2.bias`, W);
    add(`${q}.mlp.c_fc.weight`, H, W);
    add(`${q}.mlp.c_fc.bias`, H);
    add(`${q}.mlp.c_proj.weight`, W, H);
    add(`${q}.mlp.c_proj.bias`, W);
  }
  add('token_embedding.weight', V, W);
  add('ln_final.weight', W);
  add('ln_final.bias', W);
  return out;
}

/** Number of parameters (elements) the configuration implies. */
export function parameterCount(c: ClipConfig): number {
  return expectedStateDict(c).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Element types model weights may be stored in (converted to the compute dtype on load). */
export const WEIGHT_DTYPES: readonly DType[] = ['F32', 'F16', 'BF16'];

export interface StateDictProblem {
  name: string;
  kind: 'missing' | 'unexpected' | 'shape' | 'dtype';
  expected?: string;
  found?: string;
}

/** All mismatches between a file's tensors and the configuration (empty when it fits). */
export function checkStateDict(tensors: readonly TensorInfo[], c: ClipConfig, dtypes: readonly DType[] = WEIGHT_DTYPES): StateDictProblem[] {
  const problems: StateDictProblem[] = [];
  const found = new Map(tensors.map((t) => [t.name, t]));
  const expectedNames = new Set<string>();
  for (const e of expectedStateDict(c)) {
    expectedNames.add(e.name);
    const t = found.get(e.name);
    if (!t) { problems.push({ name: e.name, kind: 'missing', expected: fmtShape(e.shape) }); continue; }
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) problems.push({ name: e.name, kind: 'shape', expected: fmtShape(e.shape), found: fmtShape(t.shape) });
    if (!dtypes.includes(t.dtype)) problems.push({ name: e.name, kind: 'dtype', expected: dtypes.join('|'), found: t.dtype });
  }
  for (const t of tensors) if (!expectedNames.has(t.name)) problems.push({ name: t.name, kind: 'unexpected', found: `${t.dtype}${fmtShape(t.shape)}` });
  return problems;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

/**
 * Throws one WeightsMismatchError listing every problem by name with expected vs found (so a user
 * fixes the file once, not one error at a time).
 */
export function validateStateDict(tensors: readonly TensorInfo[], c: ClipConfig, label = 'weights', dtypes: readonly DType[] = WEIGHT_DTYPES): void {
  const problems = checkStateDict(tensors, c, dtypes);
  if (!problems.length) return;
  const count = (k: StateDictProblem['kind']): number => problems.filter((p) => p.kind === k).length;
  const lines = problems.map((p) => {
    switch (p.kind) {
      case 'missing': return `missing ${p.name} (expected ${p.expected})`;
      case 'unexpected': return `unexpected ${p.name} (${p.found})`;
      case 'shape': return `wrong shape ${p.name}: expected ${p.expected}, found ${p.found}`;
      case 'dtype': return `unsupported dtype ${p.name}: expected ${p.expected}, found ${p.found}`;
    }
  });
  const summary = `${count('missing')} missing, ${count('unexpected')} unexpected, ${count('shape')} wrong shape, ${count('dtype')} unsupported dtype:\n  ${lines.join('\n  ')}`;
  throw new StateDictMismatchError(label, `state dict does not fit the configuration — ${summary}`, problems);
}

/** A WeightsMismatchError that also carries the problems as data (for tools and tests). */
export class StateDictMismatchError extends WeightsMismatchError {
  constructor(what: string, why: string, readonly problems: StateDictProblem[]) {
    super(what, why, { hint: 'check that the weights and open_clip_config.json belong to the same model' });
  }
}
