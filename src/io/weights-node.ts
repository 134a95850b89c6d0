// Node: resolve a weights location (directory in the hub layout, a single file, or an
// `hf-hub:owner/name` id) to a parsed configuration and a lazily-read TensorSource.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, WeightsFormatError } from '../errors.js';
import { parseOpenClipConfig, validateStateDict } from '../models/config.js';
import type { ClipConfig } from '../models/config.js';
import { fileByteSource } from './file-node.js';
import { downloadHubFile, HubFileNotFoundError } from './hub-node.js';
import type { HubOptions } from './hub-node.js';
import type { TensorSource } from './source.js';
import { CONFIG_FILE, openTensorSource, WEIGHT_FILES } from './weights.js';

export interface WeightsFiles {
  /** open_clip_config.json, when there is one. */
  config: string | undefined;
  weights: string;
}

export interface OpenedWeights {
  config: ClipConfig;
  source: TensorSource;
  format: TensorSource['format'];
  files: WeightsFiles;
}

export interface OpenWeightsOptions extends HubOptions {
  /** Check the state dict against the configuration (default true). */
  validate?: boolean;
}

async function kind(p: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(p);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch { return undefined; }
}

/**
 * Finds the config and weights files of a location without opening them. Hub ids are downloaded
 * (config, then the first weights file of `prefer` the repo has) into the cache first.
 */
export async function resolveWeightsFiles(location: string, opts: HubOptions = {}, prefer: readonly string[] = WEIGHT_FILES): Promise<WeightsFiles> {
  if (location.startsWith('hf-hub:')) {
    const config = await downloadHubFile(location, CONFIG_FILE, opts);
    for (const f of prefer) {
      try {
        return { config, weights: await downloadHubFile(location, f, opts) };
      } catch (e) {
        if (!(e instanceof HubFileNotFoundError)) throw e;
      }
    }
    throw new WeightsFormatError(location, `the hub repository has none of ${prefer.join(', ')}`, { hint: 'is this an open_clip model repository?' });
  }
  const k = await kind(location);
  if (k === 'file') {
    const sibling = path.join(path.dirname(location), CONFIG_FILE);
    return { config: (await kind(sibling)) === 'file' ? sibling : undefined, weights: location };
  }
  if (k === 'dir') {
    const config = path.join(location, CONFIG_FILE);
    for (const f of prefer) {
      const w = path.join(location, f);
      if ((await kind(w)) === 'file') return { config: (await kind(config)) === 'file' ? config : undefined, weights: w };
    }
    throw new WeightsFormatError(location, `directory holds none of ${prefer.join(', ')}`, { hint: 'a weights directory has the hub layout: open_clip_config.json plus open_clip_model.safetensors or open_clip_pytorch_model.bin' });
  }
  throw new WeightsFormatError(location, 'no such file or directory', { hint: "pass a weights directory, a .safetensors/.bin file, or 'hf-hub:owner/name'" });
}

/** Opens a weights file (either format) for lazy reading. */
export async function openWeightsFile(file: string): Promise<TensorSource> {
  const src = await fileByteSource(file);
  try {
    return await openTensorSource(src);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/**
 * What the model loader and the CLI call: config + lazily-read tensors, validated against each
 * other (all mismatches reported at once). The caller closes `source`.
 */
export async function openWeights(location: string, opts: OpenWeightsOptions = {}): Promise<OpenedWeights> {
  const files = await resolveWeightsFiles(location, opts);
  if (!files.config) throw new ConfigError(location, `no ${CONFIG_FILE} next to the weights`, { hint: `put the model's ${CONFIG_FILE} beside the weights file` });
  const config = parseOpenClipConfig(await readFile(files.config, 'utf8'), files.config);
  const source = await openWeightsFile(files.weights);
  try {
    if (opts.validate ?? true) validateStateDict(source.tensors, config, files.weights);
  } catch (e) {
    await source.close();
    throw e;
  }
  return { config, source, format: source.format, files };
}
