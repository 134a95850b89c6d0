import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError } from '../../src/errors.js';
import { downloadHubFile, hubRepoDir, parseHubId } from '../../src/io/hub-node.js';
import type { DownloadProgress } from '../../src/io/hub-node.js';
import { openWeights } from '../../src/io/weights-node.js';
import { FIXTURES } from './helpers.js';
import { startHubServer } from './hub-server.js';
import type { HubServer, RepoSpec } from './hub-server.js';

const root = mkdtempSync(path.join(tmpdir(), 'echoclip-hub-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TINY = path.join(FIXTURES, 'echoclip_tiny');
const ST = 'open_clip_model.safetensors';
const BIN = 'open_clip_pytorch_model.bin';
const fixture = (f: string): Buffer => readFileSync(path.join(TINY, f));

let server: HubServer;
let cacheDir: string;
let n = 0;
async function serve(spec: Omit<RepoSpec, 'dir'> = {}): Promise<void> {
  server = await startHubServer({ 'acme/tiny': { dir: TINY, ...spec } });
}
beforeEach(() => { cacheDir = path.join(root, `cache${n++}`); });
afterEach(async () => { await server?.close(); });

const opts = (extra: object = {}): object => ({ baseUrl: server.url, cacheDir, idleTimeoutMs: 5000, ...extra });

async function caught(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected an error');
}

describe('hub download', () => {
  it('downloads config and weights into the cache with progress, then serves them from the cache', async () => {
    await serve();
    const progress: DownloadProgress[] = [];
    const cfg = await downloadHubFile('hf-hub:acme/tiny', 'open_clip_config.json', opts());
    const w = await downloadHubFile('hf-hub:acme/tiny', ST, opts({ onProgress: (p: DownloadProgress) => progress.push(p) }));
    expect(readFileSync(cfg)).toEqual(fixture('open_clip_config.json'));
    expect(readFileSync(w).equals(fixture(ST))).toBe(true);
    expect(path.dirname(w)).toBe(hubRepoDir('hf-hub:acme/tiny', { cacheDir }));
    expect(progress.at(-1)).toEqual({ file: ST, received: statSync(w).size, total: statSync(w).size });
    expect(existsSync(`${w}.part`) || existsSync(`${w}.part.json`)).toBe(false);
    const before = server.requests.length;
    await downloadHubFile('hf-hub:acme/tiny', ST, opts());
    expect(server.requests.length).toBe(before); // cache hit: no network
  });

  it('a dropped connection leaves a .part file; the next call resumes it with a Range request', async () => {
    await serve({ drop: { [ST]: { after: 5_000_000 } } });
    const err = await caught(downloadHubFile('hf-hub:acme/tiny', ST, opts({ retries: 0 })));
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/run the command again to resume/);
    const dest = path.join(hubRepoDir('hf-hub:acme/tiny', { cacheDir }), ST);
    const partial = statSync(`${dest}.part`).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThanOrEqual(5_000_000);
    expect(existsSync(dest)).toBe(false);
    const w = await downloadHubFile('hf-hub:acme/tiny', ST, opts({ retries: 0 }));
    expect(server.requests.filter((r) => r.method === 'GET').at(-1)?.range).toBe(`bytes=${partial}-`);
    expect(readFileSync(w).equals(fixture(ST))).toBe(true);
  });

  it('resumes automatically within one call after repeated drops', async () => {
    await serve({ drop: { [ST]: { after: 3_000_000, times: 2 } } });
    const w = await downloadHubFile('hf-hub:acme/tiny', ST, opts());
    expect(readFileSync(w).equals(fixture(ST))).toBe(true);
    expect(server.requests.filter((r) => r.method === 'GET' && r.range).length).toBeGreaterThanOrEqual(1);
  });

  it('a corrupted file fails its sha256 check and is deleted, never used', async () => {
    await serve({ corrupt: [ST, 'open_clip_config.json'] });
    const err = await caught(downloadHubFile('hf-hub:acme/tiny', ST, opts()));
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/sha256 checksum mismatch/);
    const dir = hubRepoDir('hf-hub:acme/tiny', { cacheDir });
    expect(existsSync(path.join(dir, ST))).toBe(false);
    expect(existsSync(path.join(dir, `${ST}.part`))).toBe(false);
    // small (non-LFS) files are checked against the git blob id in the ETag
    const err2 = await caught(downloadHubFile('hf-hub:acme/tiny', 'open_clip_config.json', opts()));
    expect(err2.message).toMatch(/git-sha1 checksum mismatch/);
  });

  it('follows the hub\'s LFS redirect and checks X-Linked-Etag from the 302', async () => {
    await serve({ redirect: true });
    const w = await downloadHubFile('hf-hub:acme/tiny', ST, opts());
    expect(readFileSync(w).equals(fixture(ST))).toBe(true);
    expect(server.requests.some((r) => r.url.startsWith('/cdn/'))).toBe(true);
  });

  it('follows a renamed repository\'s relative redirect and still verifies the checksum', async () => {
    server = await startHubServer({ 'old/tiny': { dir: TINY, movedTo: 'acme/tiny' }, 'acme/tiny': { dir: TINY, corrupt: ['open_clip_config.json'] } });
    const w = await downloadHubFile('hf-hub:old/tiny', ST, opts());
    expect(readFileSync(w).equals(fixture(ST))).toBe(true);
    expect((await caught(downloadHubFile('hf-hub:old/tiny', 'open_clip_config.json', opts()))).message).toMatch(/checksum mismatch/);
  });

  it('openWeights(hf-hub:...) uses ECHOCLIP_HUB_URL / ECHOCLIP_CACHE_DIR and falls back to the .bin', async () => {
    await serve({ missing: [ST] });
    process.env.ECHOCLIP_HUB_URL = server.url;
    process.env.ECHOCLIP_CACHE_DIR = cacheDir;
    try {
      const w = await openWeights('hf-hub:acme/tiny');
      expect(w.format).toBe('pytorch');
      expect(w.files.weights).toBe(path.join(cacheDir, 'hub', 'acme--tiny', 'main', BIN));
      expect(w.source.tensors.length).toBe(94);
      expect(w.config.embedDim).toBe(64);
      await w.source.close();
    } finally {
      delete process.env.ECHOCLIP_HUB_URL;
      delete process.env.ECHOCLIP_CACHE_DIR;
    }
  });

  it('HTTP errors, unreachable servers, stalls and bad ids are DownloadErrors', async () => {
    await serve({ status: 500 });
    expect((await caught(downloadHubFile('hf-hub:acme/tiny', ST, opts()))).message).toMatch(/HTTP 500/);
    await server.close();
    await serve({ status: 403 });
    expect((await caught(downloadHubFile('hf-hub:acme/tiny', ST, opts()))).message).toMatch(/private or gated/);
    await server.close();
    await serve({ stall: { [ST]: 1000 } });
    const t0 = Date.now();
    const stalled = await caught(downloadHubFile('hf-hub:acme/tiny', ST, opts({ idleTimeoutMs: 300, retries: 1 })));
    expect(stalled).toBeInstanceOf(DownloadError);
    expect(Date.now() - t0).toBeLessThan(5000);
    const url = server.url;
    await server.close();
    const down = await caught(downloadHubFile('hf-hub:acme/tiny', ST, { baseUrl: url, cacheDir, idleTimeoutMs: 2000 }));
    expect(down).toBeInstanceOf(DownloadError);
    expect(down.message).toMatch(/cannot reach/);
    expect(() => parseHubId('hf-hub:../etc')).toThrow(DownloadError);
    expect(() => parseHubId('hf-hub:a/b/c')).toThrow(DownloadError);
    await expect(downloadHubFile('hf-hub:acme/tiny', '../x', { cacheDir })).rejects.toThrow(DownloadError);
    await serve();
    expect((await caught(downloadHubFile('hf-hub:acme/other', ST, opts()))).message).toMatch(/HTTP 404/);
  });
});
