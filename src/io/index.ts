// Weights I/O, platform-neutral part (browser, Deno, Node). Node-only helpers: ./node.js.
export type { ByteSource, TensorInfo, TensorSource } from './source.js';
export { blobByteSource, memoryByteSource } from './source.js';
export type { DType, HostTensor, LoadedDType, TensorArray } from './dtype.js';
export { DTYPE_SIZE, convertFloat, decodeTensorBytes, tensorBytes, toFloat32 } from './dtype.js';
export { bf16ToF32Array, f16BitsToF32, f16ToF32Array, f32ToBf16Array, f32ToBf16Bits, f32ToF16Array, f32ToF16Bits } from './half.js';
export type { SafetensorsEntry, SafetensorsHeader, SafetensorsLayout, TensorToWrite } from './safetensors.js';
export { MAX_HEADER_BYTES, openSafetensors, parseSafetensors, planSafetensors, readSafetensorsHeader, serializeSafetensors, writeSafetensors } from './safetensors.js';
export type { PytorchEntry } from './torch.js';
export { openPytorch, parsePytorch } from './torch.js';
export type { ZipArchive, ZipEntry } from './zip.js';
export { openZip } from './zip.js';
export { CONFIG_FILE, WEIGHT_FILES, openTensorSource } from './weights.js';
