// Browsers (and workers): files are URLs, fetched with progress; hub files and the pinned echo_CLIP
// files persist in the Origin Private File System, so a second visit works offline.
import { DownloadError, VideoDecodeError } from '../errors.js';
import { blobByteSource } from '../io/source.js';
import { CONFIG_FILE, openTensorSource, WEIGHT_FILES } from '../io/weights.js';
import { parseOpenClipConfig } from '../models/config.js';
import { ClipBpeTokenizer } from '../tokenizer/clip-bpe.js';
import { assetUrl, checkPinned, ECHO_CLIP_COMMIT, offlineHint, shippedVocabUrl } from './assets.js';
import type { DownloadEvent, Platform } from './platform.js';

const DEFAULT_HUB = 'https://huggingface.co';

type Opfs = FileSystemDirectoryHandle;

async function opfsDir(): Promise<Opfs | undefined> {
  try {
    const root = await navigator.storage.getDirectory();
    return await root.getDirectoryHandle('echoclip', { create: true });
  } catch {
    return undefined; // no OPFS (private mode, old browser): everything still works, uncached
  }
}

const cacheName = (key: string): string => key.replace(/[^A-Za-z0-9._-]/g, '_');

async function cached(key: string): Promise<File | undefined> {
  const dir = await opfsDir();
  const f = await dir?.getFileHandle(cacheName(key)).then((h) => h.getFile(), () => undefined);
  return f && f.size > 0 ? f : undefined;
}

async function store(key: string, blob: Blob): Promise<void> {
  const dir = await opfsDir();
  if (!dir) return;
  // Written under a temporary name and moved: a closed tab never leaves a truncated entry.
  try {
    const name = cacheName(key);
    const tmp = await dir.getFileHandle(`${name}.part`, { create: true });
    const w = await tmp.createWritable();
    await w.write(blob);
    await w.close();
    const h = tmp as unknown as { move?: (n: string) => Promise<void> };
    if (h.move) await h.move(name);
  } catch {
    /* no OPFS write access: usable, just not cached */
  }
}

async function removeCached(key: string): Promise<void> {
  await (await opfsDir())?.removeEntry(cacheName(key)).catch(() => undefined);
}

/** GET with progress; `notFound` lets callers try another file name on 404. */
async function download(url: string, file: string, onDownload?: (e: DownloadEvent) => void, notFound?: () => never): Promise<Blob> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DownloadError(file, `cannot reach ${url} (${e instanceof Error ? e.message : String(e)})`, { hint: 'check the network or the base URL', cause: e });
  }
  if (res.status === 404 && notFound) notFound();
  if (!res.ok || !res.body) throw new DownloadError(file, `HTTP ${res.status} from ${url}`, { hint: 'check the URL; try again later' });
  const total = Number(res.headers.get('content-length')) || undefined;
  const chunks: Uint8Array[] = [];
  let done = 0;
  const reader = res.body.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    done += r.value.byteLength;
    onDownload?.({ stage: 'download', file, done, total });
  }
  return new Blob(chunks as BlobPart[]);
}

class NotFound extends Error {}

async function cachedDownload(url: string, key: string | undefined, file: string, onDownload?: (e: DownloadEvent) => void, optional = false): Promise<Blob> {
  if (key) {
    const hit = await cached(key);
    if (hit) return hit;
  }
  const blob = await download(url, file, onDownload, optional ? () => { throw new NotFound(); } : undefined);
  if (key) await store(key, blob);
  return blob;
}

const bytes = async (b: Blob): Promise<Uint8Array> => new Uint8Array(await b.arrayBuffer());

export function browserPlatform(): Platform {
  return {
    runtime: 'browser',
    readBytes: async (location, what) => bytes(await download(new URL(location, globalThis.location?.href).href, what)),
    async pinnedAsset(asset, opts) {
      const key = `assets/echo_CLIP-${ECHO_CLIP_COMMIT.slice(0, 12)}/${asset.file}`;
      const hit = await cached(key);
      if (hit) {
        const b = await bytes(hit);
        try { await checkPinned(asset, b, 'the browser cache'); return b; } catch { await removeCached(key); }
      }
      const url = assetUrl(asset, opts.assetsBaseUrl);
      let b: Uint8Array;
      try {
        b = await bytes(await download(url, asset.file, opts.onDownload));
      } catch (e) {
        throw new DownloadError(`echo_CLIP/${asset.file}`, `cannot download it from ${url}: ${e instanceof Error ? e.message : String(e)}`, {
          hint: offlineHint(asset),
          cause: e,
        });
      }
      await checkPinned(asset, b, url); // nothing was stored yet: a bad download leaves no trace
      await store(key, new Blob([b as BlobPart]));
      return b;
    },
    async shippedVocab() {
      return bytes(await download(shippedVocabUrl().href, 'bpe_simple_vocab_16e6.txt.gz'));
    },
    async loadBpe(location) {
      const b = await bytes(await download(new URL(location, globalThis.location?.href).href, location));
      return b[0] === 0x1f && b[1] === 0x8b ? ClipBpeTokenizer.fromGzip(b) : ClipBpeTokenizer.fromMergesText(new TextDecoder().decode(b));
    },
    async openWeights(location, opts) {
      // hf-hub:owner/name → the hub's resolve URLs, cached in OPFS; anything else: a directory URL.
      const hub = /^hf-hub:([\w.-]+\/[\w.-]+)$/.exec(location);
      const base = hub ? `${(opts.hubUrl ?? DEFAULT_HUB).replace(/\/+$/, '')}/${hub[1]}/resolve/main` : new URL(location.replace(/\/+$/, ''), globalThis.location?.href).href;
      const key = (f: string): string | undefined => (hub ? `hub/${hub[1]}/${f}` : undefined);
      const config = parseOpenClipConfig(new TextDecoder().decode(await bytes(await cachedDownload(`${base}/${CONFIG_FILE}`, key(CONFIG_FILE), CONFIG_FILE, opts.onDownload))), `${base}/${CONFIG_FILE}`);
      for (const f of WEIGHT_FILES) {
        let blob: Blob;
        try {
          blob = await cachedDownload(`${base}/${f}`, key(f), f, opts.onDownload, true);
        } catch (e) {
          if (e instanceof NotFound) continue;
          throw e;
        }
        const label = `${base}/${f}`;
        const reopen = () => openTensorSource(blobByteSource(blob, label));
        return { config, source: await reopen(), label, reopen };
      }
      throw new DownloadError(location, `none of ${WEIGHT_FILES.join(', ')} at ${base}`, { hint: 'a weights directory has the hub layout: open_clip_config.json plus the weights' });
    },
    besideWeights: async () => undefined,
    async preprocessVideoPath(path) {
      throw new VideoDecodeError(path, 'a path cannot be read in a browser', { hint: 'pass a File, Blob or Uint8Array of the video' });
    },
    embeddingCache: async () => undefined,
  };
}
