import { requestDevice, type Gpu, type SubgroupMatrixConfig } from '../gpu/device.js';
import { selfTest } from '../gpu/self-test.js';
import { GEMM_SHAPE_CLASSES, selectGemmVariant, type GemmShapeClass } from '../kernels/gemm/select.js';
import { loadTuning, tableDefaultOn, tableFamilies, TuningTable, unavailableReason } from '../kernels/tuning.js';
import { chooseVariant, familyVariants } from '../kernels/variants.js';
import { flagString, parseArgs } from './args.js';

/** How experimental kernels (subgroup matrices) are switched on, per runtime. */
export const EXPERIMENTAL_HOWTO = 'ECHOCLIP_EXPERIMENTAL_KERNELS=1 (Node: starts Dawn with allow_unsafe_apis; Chrome: --enable-features=WebGPUExperimentalFeatures or an origin trial)';

/** A shape of each GEMM shape class (gemmShapeClass), to show which variant the class gets. */
const CLASS_SHAPES: Record<GemmShapeClass, { M: number; N: number; K: number; what: string }> = {
  'small-m': { M: 77, N: 512, K: 2048, what: 'text fc2, 1 prompt' },
  large: { M: 1024, N: 1024, K: 1024, what: '1024³' },
  default: { M: 77, N: 1536, K: 512, what: 'text in_proj, 1 prompt' },
};

export interface ProbeVariant {
  name: string;
  available: boolean;
  /** Why not (missing feature, experimental off). */
  reason?: string;
  /** Profiles whose table default it is on this device. */
  defaultOn: 'software' | 'gpu' | 'both' | 'none';
  experimental: boolean;
  summary: string;
}

export interface ProbeFamily {
  family: string;
  /** The variant calls of this family get (matmul: see shapeClasses). */
  uses: string;
  /** 'cache' / 'shipped': a tuning entry chose it; 'table': the variant table's profile default. */
  source: 'cache' | 'shipped' | 'table';
  shapeClasses?: { shapeClass: string; example: string; uses: string; source: 'cache' | 'shipped' | 'table' }[];
  variants: ProbeVariant[];
}

export interface ProbeKernels {
  profile: string;
  experimental: { enabled: boolean; howto: string };
  subgroups: { enabled: boolean; minSize: number | null; maxSize: number | null };
  subgroupMatrix: { enabled: boolean; configs: SubgroupMatrixConfig[] };
  tuning: { cache: string | null; cacheEntries: number; shipped: string[] };
  families: ProbeFamily[];
}

const sourceOf = (gpu: Gpu, family: string, shapeClass: string): 'cache' | 'shipped' | 'table' => (gpu.tuning instanceof TuningTable ? (gpu.tuning.explain(family, shapeClass)?.source ?? 'table') : 'table');

/** Per op family: the variant in use, every variant with why it is unavailable, subgroup facts. */
export function probeKernels(gpu: Gpu): ProbeKernels {
  const a = gpu.adapter;
  const t = gpu.tuning instanceof TuningTable ? gpu.tuning : null;
  const families: ProbeFamily[] = tableFamilies().map((family) => {
    const variants = familyVariants(family).map((v): ProbeVariant => {
      const reason = unavailableReason(gpu, v);
      return { name: v.name, available: reason === null, ...(reason ? { reason } : {}), defaultOn: tableDefaultOn(gpu, v), experimental: v.experimental ?? false, summary: v.summary };
    });
    const f: ProbeFamily = { family, uses: chooseVariant(gpu, family), source: sourceOf(gpu, family, ''), variants };
    if (family === 'matmul') {
      f.shapeClasses = GEMM_SHAPE_CLASSES.map((c) => {
        const s = CLASS_SHAPES[c];
        return { shapeClass: c, example: `${s.what}: ${s.M}x${s.K}->${s.N} f32`, uses: selectGemmVariant(gpu, { ...s, batch: 1, dtypes: ['f32', 'f32'] }), source: sourceOf(gpu, family, c) };
      });
    }
    return f;
  });
  return {
    profile: gpu.kernelProfile,
    experimental: { enabled: gpu.experimentalKernels, howto: EXPERIMENTAL_HOWTO },
    subgroups: { enabled: gpu.subgroups, minSize: a.subgroupMinSize, maxSize: a.subgroupMaxSize },
    subgroupMatrix: { enabled: gpu.subgroupMatrix !== null, configs: a.subgroupMatrixConfigs },
    tuning: { cache: t?.file ? (t.store?.location ?? null) : null, cacheEntries: t?.file?.entries.length ?? 0, shipped: t ? t.layers.filter((l) => l.source === 'shipped').map((l) => l.where) : [] },
    families,
  };
}

/** The text form of probeKernels. */
export function formatProbeKernels(k: ProbeKernels): string {
  const lines: string[] = [];
  const sizes = k.subgroups.minSize === null ? '?' : k.subgroups.minSize === k.subgroups.maxSize ? `${k.subgroups.minSize}` : `${k.subgroups.minSize}..${k.subgroups.maxSize}`;
  lines.push(`subgroups: ${k.subgroups.enabled ? `on, size ${sizes}` : 'off'}`);
  const cfg = k.subgroupMatrix.configs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ');
  lines.push(`subgroup matrices: ${k.subgroupMatrix.enabled ? 'on' : 'off'}; adapter configs: ${cfg || 'none reported'}`);
  lines.push(`experimental kernels: ${k.experimental.enabled ? 'on' : `off — enable with ${k.experimental.howto}`}`);
  lines.push(`tuning: ${k.tuning.cache ? `${k.tuning.cache} (${k.tuning.cacheEntries} entries)` : 'no cache file (`echoclip bench --tune` writes one)'}; shipped defaults: ${k.tuning.shipped.join(', ') || 'none for this adapter'}`);
  lines.push(`kernel variants (profile ${k.profile}; [cache]/[shipped]: chosen by tuning, [table]: the variant table's default):`);
  const w = Math.max(...k.families.flatMap((f) => f.variants.map((v) => v.name.length)));
  for (const f of k.families) {
    lines.push(`  ${f.family}: uses ${f.uses} [${f.source}]`);
    for (const c of f.shapeClasses ?? []) lines.push(`    shape class ${c.shapeClass} (${c.example}): ${c.uses} [${c.source}]`);
    for (const v of f.variants) {
      const d = v.defaultOn === 'none' ? '' : `default on ${v.defaultOn === 'both' ? 'software and gpu' : v.defaultOn}`;
      lines.push(`    ${v.name === f.uses ? '*' : ' '} ${v.name.padEnd(w)}  ${v.available ? 'available' : `unavailable: ${v.reason}`}${v.available && d ? `, ${d}` : ''}${v.experimental ? ' (experimental)' : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** `echoclip probe [--device auto|lavapipe|swiftshader|ICD.json] [--cache-dir DIR] [--json]`: adapter, kernel variants, known-answer matmul. */
export async function probeCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { device: 'value', json: 'switch', 'cache-dir': 'value' }, 'probe');
  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  try {
    // What a model load would use: the tuning cache and shipped defaults (never searching here).
    await loadTuning(gpu, { cacheDir: flagString(args, 'cache-dir'), log: (l) => process.stderr.write(`probe: ${l}\n`) });
    const result = { adapter: gpu.adapter, limits: { maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize, maxBufferSize: gpu.limits.maxBufferSize, maxComputeWorkgroupStorageSize: gpu.limits.maxComputeWorkgroupStorageSize, maxStorageBuffersPerShaderStage: gpu.limits.maxStorageBuffersPerShaderStage }, kernelProfile: gpu.kernelProfile, kernels: probeKernels(gpu), selfTest: await selfTest(gpu) };
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      const a = gpu.adapter;
      process.stdout.write(`adapter: ${a.description} [${a.runtime}${a.fallback ? ', software' : ''}]\nf16: ${gpu.f16}  subgroups: ${gpu.subgroups} (size ${a.subgroupMinSize ?? '?'})  timestamp-query: ${gpu.timestampQuery}\nkernels: ${gpu.kernelProfile}\n${formatProbeKernels(result.kernels)}known-answer matmul: ${result.selfTest.pass ? 'pass' : 'FAIL'}\n`);
    }
    return result.selfTest.pass ? 0 : 1;
  } finally {
    gpu.destroy();
  }
}
