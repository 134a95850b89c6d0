// Node: download `hf-hub:owner/name` files into a local cache, with resume (HTTP Range on a
// `.part` file), integrity checks and atomic rename.
//
// Integrity: the hub's HEAD on `/resolve/<rev>/<file>` answers with `X-Linked-Etag` (LFS files:
// the file's sha256) or `ETag` (small files: the git blob sha1). A 64-hex tag is checked as the
// sha256 of the content, a 40-hex tag as the git blob id sha1("blob <size>\0" + content); any
// other tag (mirrors) gets the size check only. A mismatch deletes the file; it is never used.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { DownloadError } from '../errors.js';

export const DEFAULT_HUB_URL = 'https://huggingface.co';

/** The file does not exist on the hub (HTTP 404): callers may try another file name. */
export class HubFileNotFoundError extends DownloadError {}

/** A failure worth resuming (dropped connection, 5xx, bad range) rather than reporting at once. */
class RetryableDownloadError extends DownloadError {}

export interface DownloadProgress {
  file: string;
  received: number;
  /** Total bytes, when the server says. */
  total: number | undefined;
}

export interface HubOptions {
  /** Hub base URL; default `ECHOCLIP_HUB_URL` or https://huggingface.co. */
  baseUrl?: string;
  /** Cache root; default `ECHOCLIP_CACHE_DIR` or ~/.cache/echoclip. */
  cacheDir?: string;
  revision?: string;
  /** Automatic resumes after a dropped connection (default 3). */
  retries?: number;
  /** Abort a request when no bytes arrive for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Re-download even when the file is cached. */
  force?: boolean;
  onProgress?: (p: DownloadProgress) => void;
}

/** Parses `hf-hub:owner/name` (or `owner/name`). */
export function parseHubId(id: string): { owner: string; name: string } {
  const m = /^(?:hf-hub:)?([A-Za-z0-9][A-Za-z0-9._-]*)\/([A-Za-z0-9][A-Za-z0-9._-]*)$/.exec(id);
  if (!m || m[1].includes('..') || m[2].includes('..')) throw new DownloadError(id, 'not a hub id', { hint: "expected 'hf-hub:owner/name', e.g. hf-hub:mkaichristensen/echo-clip" });
  return { owner: m[1], name: m[2] };
}

export function hubBaseUrl(opts: HubOptions = {}): string {
  return (opts.baseUrl ?? process.env.ECHOCLIP_HUB_URL ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
}

export function hubCacheDir(opts: HubOptions = {}): string {
  return opts.cacheDir ?? process.env.ECHOCLIP_CACHE_DIR ?? path.join(homedir(), '.cache', 'echoclip');
}

/** Where a repo's files live in the cache. */
export function hubRepoDir(id: string, opts: HubOptions = {}): string {
  const { owner, name } = parseHubId(id);
  const rev = opts.revision ?? 'main';
  if (!/^[A-Za-z0-9._-]+$/.test(rev) || rev.includes('..')) throw new DownloadError(id, `revision '${rev}' is not a plain name`, { hint: 'use a branch name or commit hash' });
  return path.join(hubCacheDir(opts), 'hub', `${owner}--${name}`, rev);
}

function checksumOf(tag: string | null): { kind: 'sha256' | 'git-sha1'; hex: string } | undefined {
  const t = tag?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase() ?? '';
  if (/^[0-9a-f]{64}$/.test(t)) return { kind: 'sha256', hex: t };
  if (/^[0-9a-f]{40}$/.test(t)) return { kind: 'git-sha1', hex: t };
  return undefined;
}

export async function hashFile(file: string, kind: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function fileSize(p: string): Promise<number | undefined> {
  try { return (await stat(p)).size; } catch { return undefined; }
}

/** fetch with an idle timeout: aborted when neither headers nor body bytes arrive in time. */
function idleFetch(url: string, init: RequestInit, idleMs: number): { res: Promise<Response>; kick: () => void; done: () => void } {
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const kick = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => ac.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  };
  kick();
  return { res: fetch(url, { ...init, signal: ac.signal }), kick, done: () => { if (timer) clearTimeout(timer); } };
}

function describe(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string; code?: string } };
  return [err?.message, err?.cause?.code ?? err?.cause?.message].filter(Boolean).join(': ') || String(e);
}

/**
 * Downloads one file of a hub repo into the cache and returns its path. A cached file is returned
 * without network access. An interrupted download resumes from its `.part` file — within this
 * call (up to `retries` times) and across calls, as long as the server's ETag is unchanged.
 */
export async function downloadHubFile(id: string, file: string, opts: HubOptions = {}): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(file) || file.includes('..')) throw new DownloadError(file, 'not a plain file name', { hint: 'hub files are addressed by name' });
  const dir = hubRepoDir(id, opts);
  const dest = path.join(dir, file);
  if (!opts.force && (await fileSize(dest)) !== undefined) return dest;
  await mkdir(dir, { recursive: true });
  const url = `${hubBaseUrl(opts)}/${parseHubId(id).owner}/${parseHubId(id).name}/resolve/${opts.revision ?? 'main'}/${file}`;
  const idleMs = opts.idleTimeoutMs ?? 30_000;
  const what = `${id}/${file}`;

  // HEAD without following redirects: for LFS files the hub puts the sha256 and size on the 302
  // to the CDN. Other redirects (renamed repos) are followed until a tag or a final answer.
  let head: Response | undefined;
  let target = url;
  for (let hop = 0; hop < 5; hop++) {
    const h = idleFetch(target, { method: 'HEAD', redirect: 'manual' }, idleMs);
    try { head = await h.res; } catch (e) {
      throw new DownloadError(what, `cannot reach ${target} (${describe(e)})`, { hint: 'check the network, or set ECHOCLIP_HUB_URL to a mirror' });
    } finally { h.done(); }
    const location = head.headers.get('location');
    if (head.status < 300 || head.status >= 400 || head.headers.has('x-linked-etag') || !location) break;
    target = new URL(location, target).toString();
  }
  if (!head) throw new DownloadError(what, 'no response', { hint: 'try again later' });
  if (head.status === 404) throw new HubFileNotFoundError(what, `not found at ${url} (HTTP 404)`, { hint: 'check the hub id and file name' });
  if (head.status >= 400) throw new DownloadError(what, `HTTP ${head.status} from ${url}`, { hint: head.status === 401 || head.status === 403 ? 'the repository may be private or gated' : 'try again later' });
  const etag = head.headers.get('x-linked-etag') ?? head.headers.get('etag');
  const sizeHeader = head.headers.get('x-linked-size') ?? (head.status < 300 ? head.headers.get('content-length') : null);
  const total = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  await downloadVerified(url, dest, { what, file, etag, total, checksum: checksumOf(etag), retries: opts.retries, idleTimeoutMs: idleMs, onProgress: opts.onProgress });
  return dest;
}

export interface VerifiedDownload {
  /** Names the download in errors and progress (`owner/name/file`). */
  what: string;
  /** The file name reported to onProgress. */
  file: string;
  /** Version tag: a `.part` file is resumed only when it was started under the same tag. */
  etag?: string | null;
  /** Expected size in bytes, when known. */
  total?: number;
  /** Expected content hash; a mismatch deletes the download and throws DownloadError. */
  checksum?: { kind: 'sha256' | 'git-sha1'; hex: string };
  retries?: number;
  idleTimeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
}

/**
 * GETs `url` into `dest` through `dest.part` (resumed with HTTP Range after a dropped connection,
 * `retries` times here and across calls while the tag is unchanged), checks size and checksum,
 * then renames it into place. Shared by the hub download and the pinned echo_CLIP assets.
 */
export async function downloadVerified(url: string, dest: string, v: VerifiedDownload): Promise<void> {
  const { what, total, checksum } = v;
  const etag = v.etag ?? null;
  const idleMs = v.idleTimeoutMs ?? 30_000;
  await mkdir(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const partMeta = `${dest}.part.json`;
  // A partial file is resumed only if it belongs to the same version (same ETag).
  let start = 0;
  try {
    const meta = JSON.parse(await readFile(partMeta, 'utf8')) as { etag?: string };
    if (etag && meta.etag === etag) start = (await fileSize(part)) ?? 0;
  } catch { /* no usable partial download */ }
  if (start === 0) { await rm(part, { force: true }); await writeFile(partMeta, JSON.stringify({ etag, url })); }
  if (total !== undefined && start > total) { start = 0; await rm(part, { force: true }); }

  const retries = v.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    if (total !== undefined && start === total) break;
    try {
      start = await fetchInto(url, part, start, total, what, idleMs, (received) => v.onProgress?.({ file: v.file, received, total }));
      break;
    } catch (e) {
      if (e instanceof DownloadError && !(e instanceof RetryableDownloadError)) throw e;
      start = (await fileSize(part)) ?? 0;
      if (attempt >= retries) {
        throw new DownloadError(what, `connection failed after ${start}${total !== undefined ? ` of ${total}` : ''} bytes (${describe(e)})`, { hint: 'run the command again to resume the download', cause: e });
      }
    }
  }

  const size = (await fileSize(part)) ?? 0;
  const reject = async (why: string): Promise<never> => {
    await rm(part, { force: true });
    await rm(partMeta, { force: true });
    throw new DownloadError(what, why, { hint: 'the corrupt download was deleted; run the command again, or check the mirror' });
  };
  if (total !== undefined && size !== total) await reject(`downloaded ${size} bytes, the server announced ${total}`);
  if (checksum) {
    const got = await hashFile(part, checksum.kind, size);
    if (got !== checksum.hex) await reject(`${checksum.kind} checksum mismatch: expected ${checksum.hex}, got ${got}`);
  }
  await rename(part, dest);
  await rm(partMeta, { force: true });
}

/** One GET from `start` (Range), appending to `part`; returns the new file length. */
async function fetchInto(url: string, part: string, start: number, total: number | undefined, what: string, idleMs: number, progress: (received: number) => void): Promise<number> {
  const req = idleFetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {}, redirect: 'follow' }, idleMs);
  try {
    const res = await req.res;
    if (res.status === 416 && start > 0) {
      // The partial file is not a prefix the server recognises: start over.
      await res.body?.cancel();
      await rm(part, { force: true });
      throw new RetryableDownloadError(what, 'server rejected the resume range');
    }
    if (res.status >= 500) { await res.body?.cancel(); throw new RetryableDownloadError(what, `HTTP ${res.status}`); }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new DownloadError(what, `HTTP ${res.status} from ${url}`, { hint: 'try again later' });
    }
    let pos = start;
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== start) { await res.body?.cancel(); await rm(part, { force: true }); throw new RetryableDownloadError(what, 'server sent an unexpected range'); }
    } else {
      pos = 0; // server ignored the Range header: the body is the whole file
    }
    const fh = await open(part, pos === 0 ? 'w' : 'a');
    try {
      if (!res.body) throw new RetryableDownloadError(what, 'empty response');
      progress(pos);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        req.kick();
        if (total !== undefined && pos + chunk.byteLength > total) throw new DownloadError(what, `server sent more than the announced ${total} bytes`, { hint: 'run the command again' });
        await fh.write(chunk);
        pos += chunk.byteLength;
        progress(pos);
      }
    } finally {
      await fh.close();
    }
    return pos;
  } finally {
    req.done();
  }
}
