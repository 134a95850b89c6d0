// Platform-neutral: open a weights file from a ByteSource, choosing the format from its bytes.
import { WeightsFormatError } from '../errors.js';
import { openSafetensors } from './safetensors.js';
import type { ByteSource, TensorSource } from './source.js';
import { openPytorch } from './torch.js';

/** File names of the hub layout, in order of preference. */
export const CONFIG_FILE = 'open_clip_config.json';
export const WEIGHT_FILES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin'] as const;

/**
 * Opens safetensors or a PyTorch zip checkpoint. The format is sniffed from the first bytes (a zip
 * starts with "PK"), not the file name, so a misnamed file still gets a precise error.
 */
export async function openTensorSource(src: ByteSource): Promise<TensorSource> {
  if (src.size >= 4) {
    const magic = await src.read(0, 4);
    if (magic[0] === 0x50 && magic[1] === 0x4b) return openPytorch(src);
    // Legacy (pre-1.6) torch.save files start with a pickle protocol marker.
    if (magic[0] === 0x80 && magic[1] >= 2 && magic[1] <= 5) {
      throw new WeightsFormatError(src.label, 'legacy (non-zip) PyTorch checkpoint', { hint: 'load and re-save it with torch.save in PyTorch ≥ 1.6, or convert it to safetensors' });
    }
  }
  return openSafetensors(src);
}
