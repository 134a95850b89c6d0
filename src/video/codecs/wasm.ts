// JPEG-LS, JPEG 2000 and HTJ2K through the Cornerstone WASM builds (CharLS, OpenJPEG, OpenJPH),
// optional dependencies loaded on first use by a computed specifier: bundlers never see them (the
// browser bundle does not grow) and users who never meet such files never load them. In browsers,
// where a bare specifier does not resolve, the application registers a loader
// (registerDicomCodec). Loading is asynchronous; decoding a frame is then synchronous.

import { VideoDecodeError } from '../../errors.js';

export type WasmCodecName = 'charls' | 'openjpeg' | 'openjph';

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  getInterleaveMode?(): number;
  getNearLossless?(): number;
  delete(): void;
}

/** An instantiated Emscripten module exposing one decoder class. */
export type WasmCodecModule = Record<string, unknown>;
type Factory = (options?: Record<string, unknown>) => Promise<WasmCodecModule>;

const PACKAGES: Record<WasmCodecName, { pkg: string; entry: string; decoder: string; what: string }> = {
  charls: { pkg: '@cornerstonejs/codec-charls', entry: 'decodewasmjs', decoder: 'JpegLSDecoder', what: 'JPEG-LS' },
  openjpeg: { pkg: '@cornerstonejs/codec-openjpeg', entry: 'decodewasmjs', decoder: 'J2KDecoder', what: 'JPEG 2000' },
  openjph: { pkg: '@cornerstonejs/codec-openjph', entry: 'wasmjs', decoder: 'HTJ2KDecoder', what: 'High-Throughput JPEG 2000' },
};

const loaders = new Map<WasmCodecName, () => Promise<unknown>>();
const loading = new Map<WasmCodecName, Promise<WasmCodecModule>>();
const ready = new Map<WasmCodecName, WasmCodecModule>();

/**
 * Supplies a codec where `import('<package>/<entry>')` does not resolve (browsers, bundlers):
 * `load` returns the Emscripten factory (or a module namespace whose default is the factory), or
 * an already instantiated module, e.g.
 * `registerDicomCodec('charls', () => import('@cornerstonejs/codec-charls/decodewasmjs'))`.
 */
export function registerDicomCodec(name: WasmCodecName, load: () => Promise<unknown>): void {
  loaders.set(name, load);
  loading.delete(name);
  ready.delete(name);
}

function installHint(name: WasmCodecName): string {
  const p = PACKAGES[name];
  return `install the optional dependency (\`npm install ${p.pkg}\`); in a browser call registerDicomCodec('${name}', () => import('${p.pkg}/${p.entry}')); or transcode with \`gdcmconv --raw IN OUT\``;
}

function asFactoryOrModule(m: unknown, name: WasmCodecName): Factory | WasmCodecModule {
  const decoder = PACKAGES[name].decoder;
  for (let x: unknown = m, depth = 0; x && depth < 3; x = (x as { default?: unknown }).default, depth++) {
    if (typeof x === 'function') return x as Factory;
    if (typeof (x as Record<string, unknown>)[decoder] === 'function') return x as WasmCodecModule;
  }
  throw new Error(`the module has neither an Emscripten factory nor ${decoder}`);
}

/** Loads (once) and returns the codec module; a typed error names the package when it is missing. */
export function loadWasmCodec(name: WasmCodecName, label: string): Promise<WasmCodecModule> {
  let p = loading.get(name);
  if (!p) {
    const info = PACKAGES[name];
    p = (async () => {
      try {
        const custom = loaders.get(name);
        // A variable specifier keeps bundlers from inlining the codec into the main chunk.
        const spec = `${info.pkg}/${info.entry}`;
        const raw = custom ? await custom() : await import(/* @vite-ignore */ spec);
        const fm = asFactoryOrModule(raw, name);
        // The decoders log progress ('[INFO] Header of tile …') through print/printErr: keep stdout clean.
        const mod = typeof fm === 'function' ? await fm({ print: () => {}, printErr: () => {} }) : fm;
        if (typeof mod[info.decoder] !== 'function') throw new Error(`${info.decoder} missing from the instantiated module`);
        ready.set(name, mod);
        return mod;
      } catch (e) {
        loading.delete(name); // a later call may succeed (package installed, loader registered)
        throw new VideoDecodeError(label, `${info.what} needs the ${info.pkg} codec, which could not be loaded (${String((e as Error)?.message ?? e).slice(0, 200)})`, { hint: installHint(name), cause: e });
      }
    })();
    loading.set(name, p);
  }
  return p;
}

/** The loaded module, or a typed error saying the asynchronous loading step was skipped. */
export function loadedWasmCodec(name: WasmCodecName, label: string): WasmCodecModule {
  const m = ready.get(name);
  if (m) return m;
  throw new VideoDecodeError(label, `${PACKAGES[name].what} frames need the ${PACKAGES[name].pkg} codec, which is not loaded yet`, {
    hint: 'decode with the asynchronous readers (openVideoAsync/readVideoAsync/preprocessVideoAsync, or await prepareVideoCodecs(video) first)',
  });
}

export interface WasmDecoded {
  width: number;
  height: number;
  components: number;
  bitsPerSample: number;
  signed: boolean;
  /** 8-bit samples, or 16-bit words for deeper data. */
  data: Uint8Array | Uint16Array;
  /** true: interleaved by pixel; false: one plane per component. */
  interleaved: boolean;
}

/** Runs one decode on a fresh decoder object; any failure (including a WASM abort) is a VideoDecodeError. */
function runDecoder(name: WasmCodecName, mod: WasmCodecModule, bytes: Uint8Array, label: string): WasmDecoded {
  const info = PACKAGES[name];
  let d: WasmDecoder | undefined;
  try {
    d = new (mod[info.decoder] as new () => WasmDecoder)();
    d.getEncodedBuffer(bytes.length).set(bytes);
    d.decode();
    const fi = d.getFrameInfo();
    const out = d.getDecodedBuffer();
    const wide = fi.bitsPerSample > 8;
    const count = fi.width * fi.height * fi.componentCount;
    if (out.length < count * (wide ? 2 : 1)) throw new Error(`decoder returned ${out.length} bytes for ${fi.width}x${fi.height}x${fi.componentCount}`);
    let data: Uint8Array | Uint16Array;
    if (wide) {
      // Little-endian words in WASM memory; copy out (the view dies with the decoder).
      data = new Uint16Array(count);
      for (let i = 0; i < count; i++) data[i] = out[2 * i]! | (out[2 * i + 1]! << 8);
    } else data = out.slice(0, count);
    // CharLS returns planes for interleave mode "none" (0), pixel-interleaved data otherwise.
    const interleaved = name === 'charls' ? d.getInterleaveMode?.() !== 0 || fi.componentCount === 1 : true;
    return { width: fi.width, height: fi.height, components: fi.componentCount, bitsPerSample: fi.bitsPerSample, signed: fi.isSigned === true, data, interleaved };
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    // An Emscripten abort leaves the instance unusable: load a fresh one next time.
    if (e instanceof Error && /abort|unreachable|RuntimeError|memory/i.test(`${e.name} ${e.message}`)) { ready.delete(name); loading.delete(name); }
    const why = e instanceof Error ? e.message : typeof e === 'number' ? `error code ${e}` : String(e);
    throw new VideoDecodeError(label, `${info.what} frame could not be decoded (${why.slice(0, 200)})`, { hint: 'the pixel data is corrupt', cause: e });
  } finally {
    try { d?.delete(); } catch { /* an aborted instance cannot free */ }
  }
}

/** JPEG-LS (lossless or near-lossless) through CharLS. */
export function decodeJpegLs(bytes: Uint8Array, label: string): WasmDecoded {
  return runDecoder('charls', loadedWasmCodec('charls', label), bytes, label);
}

/** JPEG 2000 (OpenJPEG) or HTJ2K (OpenJPH) codestream; a JP2 file wrapper is unwrapped first. */
export function decodeJ2k(bytes: Uint8Array, highThroughput: boolean, label: string): WasmDecoded & { mct: boolean } {
  const cs = j2kCodestream(bytes, label);
  const name = highThroughput ? 'openjph' : 'openjpeg';
  const r = runDecoder(name, loadedWasmCodec(name, label), cs, label);
  return { ...r, mct: j2kUsesMct(cs) };
}

/** The contiguous codestream of a raw J2K stream (FF 4F) or of a JP2 file's 'jp2c' box. */
export function j2kCodestream(bytes: Uint8Array, label: string): Uint8Array {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0x4f) return bytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  while (p + 8 <= bytes.length) {
    let size = dv.getUint32(p);
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    let head = 8;
    if (size === 1 && p + 16 <= bytes.length) { size = Number(dv.getBigUint64(p + 8)); head = 16; }
    if (size === 0) size = bytes.length - p;
    if (type === 'jp2c') return bytes.subarray(p + head, Math.min(bytes.length, p + size));
    if (size < head) break;
    p += size;
  }
  throw new VideoDecodeError(label, 'JPEG 2000 frame is neither a codestream (FF 4F) nor a JP2 file with a jp2c box', { hint: 'the pixel data is corrupt' });
}

/** Whether the main COD marker enables the multiple component transform (RCT/ICT). */
export function j2kUsesMct(cs: Uint8Array): boolean {
  let p = 2;
  while (p + 4 <= cs.length && cs[p] === 0xff) {
    const m = cs[p + 1]!;
    if (m === 0x90 || m === 0x93) return false; // SOT/SOD before COD: malformed; the decoder decides
    const len = (cs[p + 2]! << 8) | cs[p + 3]!;
    if (m === 0x52) return p + 8 < cs.length && (cs[p + 8]! & 1) === 1; // Lcod Scod SGcod(prog, layers[2], MCT)
    p += 2 + len;
  }
  return false;
}
