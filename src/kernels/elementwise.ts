// Elementwise kernels: GELU (exact erf — what both EchoCLIP towers use — plus the tanh and quick
// approximations for completeness), residual add, and the ConvNeXt layer-scale residual
// out = x + gamma ⊙ y with gamma broadcast along the last (channel) axis of channels-last data.
// Tensors are f32, or f16 where the adapter has shader-f16 (all operands the same dtype; gamma is
// always f32; math in f32). Bound as vec4 when the element count (and C for layer scale) is a
// multiple of 4, 256 invocations per workgroup, grids folded into 2-D beyond the per-dimension limit.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { checkFloatTensor, foldWorkgroups, packParams, WGSL_ERF, wgslEnableF16, wgslFloatType, wgslParamsStruct, wgslStorage, type FloatDType, wgslFoldedMain } from './wgsl.js';

export type GeluKind = 'erf' | 'tanh' | 'quick';
type Op = { kind: 'gelu'; gelu: GeluKind } | { kind: 'add' } | { kind: 'add-scaled' };

const PARAMS = wgslParamsStruct('Params', ['n', 'C']);
const WG = 256;

const WGSL_GELU_APPROX = /* wgsl */ `
fn gelu_tanh_f32(x: f32) -> f32 {
  // Clamped so tanh's exp never overflows (tanh(±10) is ±1 in f32 anyway).
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -10.0, 10.0);
  return 0.5 * x * (1.0 + tanh(u));
}
fn quick_gelu_f32(x: f32) -> f32 { return x / (1.0 + exp(-1.702 * x)); }
`;

function geluFn(kind: GeluKind): string {
  return kind === 'erf' ? 'gelu_f32' : kind === 'tanh' ? 'gelu_tanh_f32' : 'quick_gelu_f32';
}

/** WGSL for one elementwise configuration (exported for tests). */
export function elementwiseWgsl(op: Op, dtype: FloatDType, vec: boolean): { code: string; storage: ('read' | 'read_write')[] } {
  const T = wgslFloatType(dtype, vec);
  const V = vec ? 'vec4f' : 'f32';
  const inputs = op.kind === 'gelu' ? ['X'] : op.kind === 'add' ? ['X', 'Yv'] : ['X', 'G', 'Yv'];
  let code = wgslEnableF16(dtype === 'f16') + PARAMS.code;
  inputs.forEach((name, i) => (code += wgslStorage(i, name, name === 'G' ? `array<${V}>` : `array<${T}>`, 'read')));
  code += wgslStorage(inputs.length, 'Out', `array<${T}>`, 'read_write');
  code += `@group(0) @binding(${inputs.length + 1}) var<uniform> p: Params;\n`;
  let expr: string;
  if (op.kind === 'gelu') {
    code += op.gelu === 'erf' ? WGSL_ERF : WGSL_GELU_APPROX;
    const f = geluFn(op.gelu);
    expr = vec ? `let v = ${V}(X[i]); let r = vec4f(${f}(v.x), ${f}(v.y), ${f}(v.z), ${f}(v.w));` : `let r = ${f}(f32(X[i]));`;
  } else if (op.kind === 'add') {
    expr = `let r = ${V}(X[i]) + ${V}(Yv[i]);`;
  } else {
    // p.C is the channel count in elements of this binding (C/4 when vec).
    expr = `let r = ${V}(X[i]) + G[i % p.C] * ${V}(Yv[i]);`;
  }
  code += /* wgsl */ `${wgslFoldedMain(WG)}  let i = gid;
  if (i >= p.n) { return; }
  ${expr}
  Out[i] = ${T}(r);
}
`;
  return { code, storage: [...inputs.map(() => 'read' as const), 'read_write'] };
}

function run(op: Op, name: string, inputs: Tensor[], gamma: Tensor | null, C: number, out: Tensor | undefined): Tensor {
  const x = inputs[0];
  const gpu = x.gpu;
  checkFloatTensor(gpu, x, `${name} input`);
  for (const t of inputs.slice(1)) {
    if (t.dtype !== x.dtype || t.size !== x.size) throw new ShapeError(name, `operands must match: ${x.dtype} [${x.shape.join(', ')}] vs ${t.dtype} [${t.shape.join(', ')}]`);
  }
  const o = out ?? Tensor.empty(gpu, x.shape, x.dtype, `${name}.out`);
  if (o.dtype !== x.dtype || o.size !== x.size) throw new ShapeError(`${name} out`, `must be ${x.dtype} with ${x.size} values, got ${o.dtype} [${o.shape.join(', ')}]`);
  if (x.size === 0) return o;
  const all = gamma ? [inputs[0], gamma, ...inputs.slice(1), o] : [...inputs, o];
  const vec = x.size % 4 === 0 && C % 4 === 0 && all.every((t) => t.byteOffset % 16 === 0);
  const { code, storage } = elementwiseWgsl(op, x.dtype as FloatDType, vec);
  const n = vec ? x.size / 4 : x.size;
  gpu.dispatch({
    kernel: { name: `elementwise/${name}`, code, storage, uniformBytes: PARAMS.bytes },
    bindings: all,
    uniforms: packParams(PARAMS.bytes, [n, vec ? C / 4 : C]),
    workgroups: foldWorkgroups(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return o;
}

/** GELU of every element: 'erf' (exact, default), 'tanh' (approximate) or 'quick' (x·σ(1.702x)). */
export function gelu(x: Tensor, opts: { kind?: GeluKind; out?: Tensor } = {}): Tensor {
  const kind = opts.kind ?? 'erf';
  return run({ kind: 'gelu', gelu: kind }, `gelu-${kind}`, [x], null, 4, opts.out);
}

/** Residual add a + b (same shape and dtype). */
export function add(a: Tensor, b: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return run({ kind: 'add' }, 'add', [a, b], null, 4, opts.out);
}

/**
 * Layer-scale residual out = x + gamma ⊙ y for channels-last x, y [..., C] and f32 gamma [C]
 * (timm ConvNeXt block: shortcut + gamma · mlp(x)).
 */
export function addScaled(x: Tensor, gamma: Tensor, y: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const C = x.shape.length ? x.shape[x.shape.length - 1] : 1;
  if (gamma.dtype !== 'f32' || gamma.size !== C) throw new ShapeError('addScaled gamma', `must be f32 [${C}] (the last axis of x [${x.shape.join(', ')}]), got ${gamma.dtype} [${gamma.shape.join(', ')}]`);
  return run({ kind: 'add-scaled' }, 'add-scaled', [x, y], gamma, C, opts.out);
}

const CAST_PARAMS = wgslParamsStruct('Params', ['n']);

/** WGSL converting n values (vec4s when `vec`) from one float storage type to another. */
export function castWgsl(from: FloatDType, to: FloatDType, vec: boolean): string {
  return (
    wgslEnableF16(from === 'f16' || to === 'f16') + CAST_PARAMS.code +
    wgslStorage(0, 'X', `array<${wgslFloatType(from, vec)}>`, 'read') +
    wgslStorage(1, 'Out', `array<${wgslFloatType(to, vec)}>`, 'read_write') +
    '@group(0) @binding(2) var<uniform> p: Params;\n' +
    `${wgslFoldedMain(WG)}  if (gid >= p.n) { return; }\n  Out[gid] = ${wgslFloatType(to, vec)}(X[gid]);\n}\n`
  );
}

/**
 * x converted to `dtype` (round to nearest even for f32 → f16; values beyond ±65504 become ±inf,
 * as torch's .half() does). Mixed-precision training casts the f32 master weights with this.
 */
export function cast(x: Tensor, dtype: FloatDType, opts: { out?: Tensor } = {}): Tensor {
  const gpu = x.gpu;
  checkFloatTensor(gpu, x, 'cast input');
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError('cast dtype', `must be f32 or f16, got ${String(dtype)}`);
  const o = opts.out ?? Tensor.empty(gpu, x.shape, dtype, 'cast.out');
  checkFloatTensor(gpu, o, 'cast out');
  if (o.dtype !== dtype || o.size !== x.size) throw new ShapeError('cast out', `must be ${dtype} with ${x.size} values, got ${o.dtype} [${o.shape.join(', ')}]`);
  if (x.size === 0) return o;
  const vec = x.size % 4 === 0 && x.byteOffset % 16 === 0 && o.byteOffset % 16 === 0;
  const n = vec ? x.size / 4 : x.size;
  gpu.dispatch({
    kernel: { name: `cast-${x.dtype}-${dtype}`, code: castWgsl(x.dtype as FloatDType, dtype, vec), storage: ['read', 'read_write'], uniformBytes: CAST_PARAMS.bytes },
    bindings: [x, o],
    uniforms: packParams(CAST_PARAMS.bytes, [n]),
    workgroups: foldWorkgroups(Math.ceil(n / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return o;
}
