// PyTorch zip checkpoints (`torch.save`, the format of open_clip_pytorch_model.bin): `<dir>/data.pkl`
// is a pickled OrderedDict of `_rebuild_tensor_v2(storage, offset, size, stride, ...)` calls whose
// storages are persistent ids pointing at raw little-endian `<dir>/data/<key>` entries.
import { WeightsFormatError } from '../errors.js';
import { DTYPE_SIZE, decodeTensorBytes, numelOf } from './dtype.js';
import type { DType, HostTensor } from './dtype.js';
import { GlobalRef, PyDict, PyTuple, unpickle } from './pickle.js';
import type { AllowedGlobal } from './pickle.js';
import { memoryByteSource } from './source.js';
import type { ByteSource, TensorInfo, TensorSource } from './source.js';
import { openZip } from './zip.js';
import type { ZipArchive, ZipEntry } from './zip.js';

/** Storage classes a state dict may reference, and the element type each holds. */
const STORAGE_TYPES: Readonly<Record<string, DType>> = {
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.DoubleStorage': 'F64',
  'torch.IntStorage': 'I32',
  'torch.LongStorage': 'I64',
  'torch.ByteStorage': 'U8',
};

class StorageType { constructor(readonly dtype: DType, readonly qualname: string) {} }
class StorageRef { constructor(readonly key: string, readonly dtype: DType, readonly numel: number) {} }
/** What `_rebuild_tensor_v2` produces: a strided view of a storage, read lazily. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

function isIntList(v: unknown): v is PyTuple {
  return v instanceof PyTuple && v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
}

export interface PytorchEntry extends TensorInfo {
  readonly storageKey: string;
  readonly storageOffset: number;
  readonly stride: readonly number[];
}

/** Parses the archive index and pickle; tensor data stay on disk until `read`. */
export async function openPytorch(src: ByteSource): Promise<TensorSource> {
  const label = src.label;
  const zip = await openZip(src);
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new WeightsFormatError(label, pkls.length ? `archive holds ${pkls.length} data.pkl files` : 'archive holds no <folder>/data.pkl', { hint: 'not a PyTorch checkpoint saved with torch.save' });
  }
  // The folder is the file stem in older PyTorch and `archive/` in newer; take whatever it is.
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  // PyTorch ≥ 2.1 records the byte order of the storages; everything here assumes little-endian.
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder && byteorder.size <= 16) {
    const order = new TextDecoder().decode(await zip.read(byteorder)).trim();
    if (order !== 'little') throw new WeightsFormatError(label, `storages are ${order}-endian`, { hint: 're-save the checkpoint on a little-endian machine, or convert it to safetensors' });
  }
  const pklEntry = zip.entries.get(pkls[0])!;
  if (pklEntry.size > 512 * 1024 * 1024) throw new WeightsFormatError(label, `data.pkl is ${pklEntry.size} bytes`, { hint: 'implausibly large for a state_dict; the file is corrupt' });
  const pkl = await zip.read(pklEntry);

  const globals = new Map<string, AllowedGlobal>();
  const orderedDict: AllowedGlobal = {
    call: (args) => {
      if (args.length !== 0) throw new WeightsFormatError(label, 'OrderedDict called with arguments', { hint: 'not a plain state_dict' });
      return new PyDict(true);
    },
    // torch pickles `state_dict._metadata` (module versions) as BUILD state; it is not needed.
    build: (_obj, state) => {
      const ok = state instanceof PyDict && [...state.map.keys()].every((k) => k === '_metadata');
      if (!ok) throw new WeightsFormatError(label, 'OrderedDict BUILD state other than _metadata', { hint: 'not a plain state_dict' });
    },
  };
  globals.set('collections.OrderedDict', orderedDict);
  for (const [q, dtype] of Object.entries(STORAGE_TYPES)) globals.set(q, { value: new StorageType(dtype, q) });
  const rebuild = (args: unknown[]): TensorRef => {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    const [storage, offset, size, stride] = args;
    if (args.length < 4 || !(storage instanceof StorageRef) || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !isIntList(size) || !isIntList(stride) || size.items.length !== stride.items.length) {
      throw new WeightsFormatError(label, '_rebuild_tensor_v2 called with malformed arguments', { hint: 'the checkpoint is corrupt' });
    }
    return new TensorRef(storage, offset, size.items as number[], stride.items as number[]);
  };
  globals.set('torch._utils._rebuild_tensor_v2', { call: rebuild });
  // nn.Parameter wrapper (checkpoints that pickled parameters rather than state_dict tensors).
  globals.set('torch._utils._rebuild_parameter', {
    call: (args) => {
      if (!(args[0] instanceof TensorRef)) throw new WeightsFormatError(label, '_rebuild_parameter without a tensor', { hint: 'the checkpoint is corrupt' });
      return args[0];
    },
  });

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    // ('storage', StorageType, key, location, numel)
    const items = pid instanceof PyTuple ? pid.items : [];
    const [tag, type, key, , numel] = items;
    const st = type instanceof GlobalRef ? type.impl.value : undefined;
    if (items.length !== 5 || tag !== 'storage' || !(st instanceof StorageType) || typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      throw new WeightsFormatError(label, 'pickle has a persistent id that is not a typed storage reference', { hint: 'only plain state_dicts are supported' });
    }
    let s = storages.get(key);
    if (!s) { s = new StorageRef(key, st.dtype, numel); storages.set(key, s); }
    else if (s.dtype !== st.dtype || s.numel !== numel) throw new WeightsFormatError(label, `storage '${key}' is referenced with two different types/sizes`, { hint: 'the checkpoint is corrupt' });
    return s;
  };

  let root = unpickle(pkl, { globals, persistentLoad, label });
  // Training checkpoints wrap the weights: {"state_dict": {...}, "epoch": ...} (open_clip does the same unwrap).
  if (root instanceof PyDict && root.map.get('state_dict') instanceof PyDict) root = root.map.get('state_dict');
  if (!(root instanceof PyDict)) throw new WeightsFormatError(label, 'pickle does not hold a dict', { hint: 'expected a state_dict saved with torch.save(model.state_dict(), ...)' });
  const all = [...root.map.keys()];
  const stripModule = all.length > 0 && all.every((k) => typeof k === 'string' && k.startsWith('module.'));

  const entries: PytorchEntry[] = [];
  const zipEntries = new Map<string, ZipEntry>();
  for (const [k, v] of root.map) {
    if (typeof k !== 'string') throw new WeightsFormatError(label, `state_dict key ${String(k)} is not a string`, { hint: 'not a plain state_dict' });
    const name = stripModule ? k.slice('module.'.length) : k;
    if (!(v instanceof TensorRef)) throw new WeightsFormatError(label, `state_dict entry '${name}' is not a tensor`, { hint: 'not a plain state_dict' });
    const what = `${label}: tensor '${name}'`;
    const numel = numelOf(v.shape, what);
    // Highest element the view touches: offset + Σ (size_i - 1)·stride_i.
    let extent = v.offset;
    for (let i = 0; i < v.shape.length; i++) extent += Math.max(0, v.shape[i] - 1) * v.stride[i];
    if (numel > 0 && extent >= v.storage.numel) throw new WeightsFormatError(what, `view (offset ${v.offset}, shape ${JSON.stringify(v.shape)}, stride ${JSON.stringify(v.stride)}) reaches element ${extent} of a ${v.storage.numel}-element storage`, { hint: 'the checkpoint is corrupt' });
    // Expanded views (stride 0) would materialise more than the file holds; a state dict never has them.
    if (numel > v.storage.numel) throw new WeightsFormatError(what, `view of ${numel} elements over a ${v.storage.numel}-element storage (an expanded tensor)`, { hint: 'save the state dict with .contiguous() tensors' });
    const ze = zip.entries.get(`${prefix}data/${v.storage.key}`);
    if (!ze) throw new WeightsFormatError(what, `storage entry '${prefix}data/${v.storage.key}' is missing from the archive`, { hint: 'the checkpoint is truncated or corrupt' });
    if (ze.size !== v.storage.numel * DTYPE_SIZE[v.storage.dtype]) throw new WeightsFormatError(what, `storage '${v.storage.key}' is ${ze.size} bytes, expected ${v.storage.numel} × ${DTYPE_SIZE[v.storage.dtype]}`, { hint: 'the checkpoint is truncated or corrupt' });
    zipEntries.set(name, ze);
    entries.push({ name, dtype: v.storage.dtype, shape: v.shape, storageKey: v.storage.key, storageOffset: v.offset, stride: v.stride });
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  return {
    format: 'pytorch',
    tensors: entries,
    metadata: {},
    get: (name) => byName.get(name),
    read: async (name) => {
      const e = byName.get(name);
      if (!e) throw new WeightsFormatError(label, `no tensor named '${name}'`, { hint: 'list the file\'s tensors to see what it holds' });
      return readView(zip, zipEntries.get(name)!, e, `${label}: tensor '${name}'`);
    },
    close: () => src.close(),
  };
}

/** Parses PyTorch checkpoint bytes held in memory. */
export function parsePytorch(bytes: Uint8Array, label = '<pytorch>'): Promise<TensorSource> {
  return openPytorch(memoryByteSource(bytes, label));
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/** Reads only the span of the storage the view touches; non-contiguous views are gathered. */
async function readView(zip: ZipArchive, ze: ZipEntry, e: PytorchEntry, what: string): Promise<HostTensor> {
  const item = DTYPE_SIZE[e.dtype];
  const shape = e.shape.slice();
  const numel = numelOf(shape, what);
  if (numel === 0) return decodeTensorBytes(e.dtype, shape, new Uint8Array(0), what);
  const cs = contiguousStrides(shape);
  // Dims of size 1 may carry any stride; they do not affect contiguity.
  const contiguous = shape.every((d, i) => d === 1 || e.stride[i] === cs[i]);
  if (contiguous) return decodeTensorBytes(e.dtype, shape, await zip.read(ze, e.storageOffset * item, numel * item), what);
  let extent = 0;
  for (let i = 0; i < shape.length; i++) extent += (shape[i] - 1) * e.stride[i];
  const span = await zip.read(ze, e.storageOffset * item, (extent + 1) * item);
  const out = new Uint8Array(numel * item);
  // Odometer over the output in row-major order, tracking the source element index.
  const idx = new Array<number>(shape.length).fill(0);
  let src = 0;
  for (let o = 0; o < numel; o++) {
    out.set(span.subarray(src * item, src * item + item), o * item);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) { src += e.stride[d]; break; }
      src -= (shape[d] - 1) * e.stride[d];
      idx[d] = 0;
    }
  }
  return decodeTensorBytes(e.dtype, shape, out, what);
}
