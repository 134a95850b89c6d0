import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, WeightsMismatchError } from '../../src/errors.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import type { TensorInfo } from '../../src/io/source.js';
import {
  builtinConfig, checkStateDict, ECHOCLIP_CONFIG, ECHOCLIP_R_CONFIG, expectedStateDict, parameterCount,
  parseOpenClipConfig, StateDictMismatchError, toOpenClipConfigJson, validateStateDict,
} from '../../src/models/config.js';

const FIX = path.resolve(import.meta.dirname, '../../../shared/fixtures');
const readConfig = (m: string): string => readFileSync(path.join(FIX, m, 'open_clip_config.json'), 'utf8');

// The hub's echo-clip(-r) open_clip_config.json (reference §1.2), as save_config_for_hf writes it.
const HUB_CONFIG = `{
  "model_cfg": {
    "embed_dim": 512,
    "vision_cfg": {
      "timm_model_name": "convnext_base",
      "timm_model_pretrained": false,
      "timm_pool": "",
      "timm_proj": "linear",
      "timm_drop": 0.0,
      "timm_drop_path": 0.1,
      "image_size": 224
    },
    "text_cfg": {
      "context_length": 77,
      "vocab_size": 49408,
      "width": 512,
      "heads": 8,
      "layers": 12
    }
  },
  "preprocess_cfg": {
    "mean": [
      0.48145466,
      0.4578275,
      0.40821073
    ],
    "std": [
      0.26862954,
      0.26130258,
      0.27577711
    ]
  }
}`;

describe('open_clip_config.json', () => {
  it('parses the published config into the built-in EchoCLIP config (590 bytes, as on the hub)', () => {
    expect(new TextEncoder().encode(HUB_CONFIG).length).toBe(590);
    expect(parseOpenClipConfig(HUB_CONFIG)).toEqual(ECHOCLIP_CONFIG);
    expect(ECHOCLIP_R_CONFIG).toEqual(ECHOCLIP_CONFIG);
    expect(builtinConfig('hf-hub:mkaichristensen/echo-clip-r')).toEqual(ECHOCLIP_CONFIG);
    expect(() => builtinConfig('vit-b-32')).toThrow(ConfigError);
  });

  it('parses the tiny fixture configs (timm_model_kwargs override depths/dims)', () => {
    for (const m of ['echoclip_tiny', 'echoclip_r_tiny']) {
      const c = parseOpenClipConfig(readConfig(m));
      expect(c.embedDim).toBe(64);
      expect(c.vision).toEqual({ timmModelName: 'convnext_base', depths: [1, 1, 2, 1], dims: [32, 64, 128, 256], imageSize: 224, dropPath: 0.1, layerNormEps: 1e-6 });
      expect(c.text).toEqual({ contextLength: 77, vocabSize: 49408, width: 64, heads: 4, layers: 2, mlpRatio: 4, layerNormEps: 1e-5 });
    }
  });

  it('round-trips through toOpenClipConfigJson', () => {
    const tiny = parseOpenClipConfig(readConfig('echoclip_tiny'));
    expect(parseOpenClipConfig(toOpenClipConfigJson(tiny))).toEqual(tiny);
    expect(parseOpenClipConfig(toOpenClipConfigJson(ECHOCLIP_CONFIG))).toEqual(ECHOCLIP_CONFIG);
    expect(JSON.parse(toOpenClipConfigJson(ECHOCLIP_CONFIG))).toEqual(JSON.parse(HUB_CONFIG));
  });

  it('rejects invalid and unsupported configs with ConfigError naming the key', () => {
    const base = JSON.parse(HUB_CONFIG);
    const variant = (f: (c: any) => void): string => { const c = structuredClone(base); f(c); return JSON.stringify(c); };
    const cases: Array<[string, RegExp]> = [
      ['{not json', /not valid JSON/],
      ['[1,2]', /JSON object/],
      [variant((c) => { c.model_cfg.vision_cfg.timm_model_name = 'vit_base_patch16_224'; }), /timm_model_name/],
      [variant((c) => { c.model_cfg.vision_cfg.timm_pool = 'avg'; }), /timm_pool/],
      [variant((c) => { c.model_cfg.quick_gelu = true; }), /quick_gelu/],
      [variant((c) => { c.model_cfg.text_cfg.heads = 7; }), /divisible/],
      [variant((c) => { c.model_cfg.text_cfg.width = -1; }), /text_cfg\.width/],
      [variant((c) => { c.model_cfg.embed_dim = '512'; }), /embed_dim/],
      [variant((c) => { delete c.model_cfg.text_cfg; }), /text_cfg/],
      [variant((c) => { c.model_cfg.vision_cfg.timm_model_kwargs = { depths: [1, 2, 3] }; }), /depths/],
      [variant((c) => { c.model_cfg.vision_cfg.timm_model_kwargs = { ls_init_value: 1 }; }), /ls_init_value/],
      [variant((c) => { c.preprocess_cfg.std = [0, 1, 1]; }), /std/],
      [variant((c) => { c.model_cfg.vision_cfg.image_size = 100; }), /multiple of 32/],
    ];
    for (const [text, re] of cases) {
      let err: unknown;
      try { parseOpenClipConfig(text); } catch (e) { err = e; }
      expect(err, text).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('expectedStateDict', () => {
  it('full EchoCLIP: 493 tensors, 151,518,849 parameters (reference §2.5)', () => {
    const sd = expectedStateDict(ECHOCLIP_CONFIG);
    expect(sd.length).toBe(493);
    expect(parameterCount(ECHOCLIP_CONFIG)).toBe(151_518_849);
    expect(new Set(sd.map((t) => t.name)).size).toBe(493);
    const get = (n: string): number[] | undefined => sd.find((t) => t.name === n)?.shape;
    expect(get('token_embedding.weight')).toEqual([49408, 512]);
    expect(get('logit_scale')).toEqual([]);
    expect(get('visual.head.proj.weight')).toEqual([512, 1024]);
    expect(get('visual.trunk.stages.2.blocks.26.mlp.fc1.weight')).toEqual([2048, 512]);
    expect(get('transformer.resblocks.11.attn.in_proj_weight')).toEqual([1536, 512]);
    expect(get('visual.trunk.stages.0.downsample.0.weight')).toBeUndefined();
  });

  it.each(['echoclip_tiny', 'echoclip_r_tiny'])('%s: 94 tensors matching the fixture file exactly (names, order, shapes)', async (m) => {
    const c = parseOpenClipConfig(readConfig(m));
    const sd = expectedStateDict(c);
    expect(sd.length).toBe(94);
    expect(parameterCount(c)).toBe(4_325_345);
    const st = await parseSafetensors(new Uint8Array(readFileSync(path.join(FIX, m, 'open_clip_model.safetensors'))));
    expect(st.tensors.map((t) => ({ name: t.name, shape: [...t.shape] }))).toEqual(sd);
    expect(checkStateDict(st.tensors, c)).toEqual([]);
    expect(() => validateStateDict(st.tensors, c)).not.toThrow();
  });
});

describe('validateStateDict', () => {
  it('reports missing, unexpected, wrong-shape and wrong-dtype tensors all at once', () => {
    const c = parseOpenClipConfig(readConfig('echoclip_tiny'));
    const good: TensorInfo[] = expectedStateDict(c).map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape }));
    const tensors = good
      .filter((t) => t.name !== 'ln_final.bias' && t.name !== 'visual.head.proj.weight')
      .map((t) => t.name === 'text_projection' ? { ...t, shape: [64, 32] } : t.name === 'logit_scale' ? { ...t, dtype: 'I64' as const } : t);
    tensors.push({ name: 'visual.trunk.head.fc.weight', dtype: 'F32', shape: [1000, 256] });
    let err: unknown;
    try { validateStateDict(tensors, c, 'my.safetensors'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WeightsMismatchError);
    expect(err).toBeInstanceOf(StateDictMismatchError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^my\.safetensors: /);
    expect(msg).toContain('2 missing, 1 unexpected, 1 wrong shape, 1 unsupported dtype');
    expect(msg).toContain('missing ln_final.bias (expected [64])');
    expect(msg).toContain('missing visual.head.proj.weight (expected [64,256])');
    expect(msg).toContain('wrong shape text_projection: expected [64,64], found [64,32]');
    expect(msg).toContain('unsupported dtype logit_scale: expected F32|F16|BF16, found I64');
    expect(msg).toContain('unexpected visual.trunk.head.fc.weight (F32[1000,256])');
    expect((err as StateDictMismatchError).problems).toHaveLength(5);
  });

  it('the tiny weights do not fit the full-size config', () => {
    const tiny = expectedStateDict(parseOpenClipConfig(readConfig('echoclip_tiny'))).map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape }));
    const problems = checkStateDict(tiny, ECHOCLIP_CONFIG);
    expect(problems.filter((p) => p.kind === 'missing').length).toBe(493 - 94 + 0 + problems.filter((p) => p.kind === 'unexpected').length);
    expect(problems.some((p) => p.kind === 'shape' && p.name === 'token_embedding.weight')).toBe(true);
  });
});
