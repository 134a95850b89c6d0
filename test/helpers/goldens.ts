// Golden tensors from ../shared/fixtures (PyTorch reference), read with the library's own
// safetensors reader, plus the per-tensor tolerances from tolerances.json.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/dtype.js';

export const SHARED = resolve(import.meta.dirname, '../../../shared');
export const FIXTURES = resolve(SHARED, 'fixtures');

export interface Golden {
  shape: number[];
  data: Float32Array | Int32Array;
}

const cache = new Map<string, Map<string, Golden>>();

/** All tensors of a fixture file (e.g. 'ops.safetensors'), as f32 or i32 arrays. */
export async function loadGoldens(file: string): Promise<Map<string, Golden>> {
  const hit = cache.get(file);
  if (hit) return hit;
  const src = await parseSafetensors(new Uint8Array(readFileSync(resolve(FIXTURES, file))), file);
  const out = new Map<string, Golden>();
  for (const info of src.tensors) {
    const t: HostTensor = await src.read(info.name);
    const data = t.data instanceof Float32Array || t.data instanceof Int32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
    out.set(info.name, { shape: [...t.shape], data });
  }
  cache.set(file, out);
  return out;
}

export function golden(g: Map<string, Golden>, name: string): Golden {
  const t = g.get(name);
  if (!t) throw new Error(`golden tensor '${name}' is not in the fixture`);
  return t;
}

interface ToleranceFile {
  tensors?: Record<string, { atol: number }>;
  groups: Record<string, { max_atol: number }>;
}
let tolerances: ToleranceFile | null = null;

/**
 * atol for a golden tensor per tolerances.json: the tensor's own entry when listed, else the
 * largest atol of the group whose prefix matches (e.g. 'ops:conv_dw.out' → group 'ops:conv_dw').
 */
export function toleranceFor(file: string, tensor: string): number {
  tolerances ??= JSON.parse(readFileSync(resolve(FIXTURES, 'tolerances.json'), 'utf8')) as ToleranceFile;
  const stem = file.replace(/\.safetensors$/, '');
  const own = tolerances.tensors?.[`${stem}.safetensors:${tensor}`] ?? tolerances.tensors?.[`${stem}:${tensor}`];
  if (own) return own.atol;
  const key = `${stem}:${tensor}`;
  let best: { len: number; atol: number } | null = null;
  for (const [g, v] of Object.entries(tolerances.groups)) {
    if ((key === g || key.startsWith(g + '.') || key.startsWith(g)) && (!best || g.length > best.len)) best = { len: g.length, atol: v.max_atol };
  }
  if (!best) throw new Error(`no tolerance for ${key} in tolerances.json`);
  return best.atol;
}
