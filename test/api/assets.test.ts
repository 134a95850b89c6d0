// Where the vocabulary, the template vocabulary and the prompt set come from: the resolution order
// (explicit > beside local weights > shipped / downloaded), and the pinned echo_CLIP download from a
// 127.0.0.1 server — cache, sha256 mismatch (typed error, nothing left behind), offline second run.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BPE_VOCAB_SHA256, PROMPTS_ASSET, TEMPLATE_VOCAB_ASSET, assetsBaseUrl, sha256Hex, shippedVocabCandidates, shippedVocabUrl } from '../../src/api/assets.js';
import { nodePlatform, pinnedAssetFile, pinnedAssetPath } from '../../src/api/platform-node.js';
import { resolvePromptSets, resolveTokenizer, tokenizerForModel } from '../../src/api/resolve.js';
import { DownloadError, TokenizerError, UsageError } from '../../src/errors.js';
import { startHubServer } from '../io/hub-server.js';

const root = resolve(import.meta.dirname, '../..');
const SHARED = resolve(root, '../shared');
const PROMPTS = resolve(SHARED, 'samples/prompts_used.json');
const TEMPLATE = resolve(SHARED, 'vocab/template_vocab.txt');
const BPE = resolve(SHARED, 'vocab/bpe_simple_vocab_16e6.txt.gz');
const platform = nodePlatform();
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `echoclip-${p}-`));

/** A stand-in for the echo_CLIP repository's raw files at the pinned commit. */
function echoClipRepo(files: Record<string, string> = { 'prompts_used.json': PROMPTS, 'template_vocab.txt': TEMPLATE }): string {
  const dir = tmp('echo_CLIP');
  for (const [name, src] of Object.entries(files)) copyFileSync(src, join(dir, name));
  return dir;
}
const base = (url: string) => `${url}/echonet/echo_CLIP/resolve/main`;

describe('the shipped CLIP vocabulary', () => {
  it('is in the package (assets/, listed in files), byte for byte OpenAI\'s', async () => {
    const file = fileURLToPath(shippedVocabUrl());
    expect(file).toBe(resolve(root, 'assets/bpe_simple_vocab_16e6.txt.gz'));
    expect(await sha256Hex(new Uint8Array(readFileSync(file)))).toBe(BPE_VOCAB_SHA256);
    expect(await sha256Hex(await platform.shippedVocab())).toBe(BPE_VOCAB_SHA256);
    // Node/Deno also look one level up (dist/*.js → assets/); package.test.ts runs that layout.
    expect(shippedVocabCandidates()[0]!.href).toBe(shippedVocabUrl().href);
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
    expect(pkg.files).toContain('assets');
  });

  it('resolution order: --vocab, then the weights directory, then the shipped file', async () => {
    const want = (await resolveTokenizer(platform, 'bpe', { vocab: BPE })).tokenizer.tokenize(['SEVERE AORTIC STENOSIS. ']);
    // Nothing given, weights without a vocabulary: the shipped file, same ids as OpenAI's.
    const shipped = await resolveTokenizer(platform, 'bpe', {}, { weights: resolve(SHARED, 'fixtures/echoclip_tiny') });
    expect(shipped.from).toBe('shipped');
    expect(shipped.tokenizer.tokenize(['SEVERE AORTIC STENOSIS. '])).toEqual(want);
    // A weights directory that carries one wins over the shipped file…
    const dir = tmp('weights');
    copyFileSync(BPE, join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
    const beside = await resolveTokenizer(platform, 'bpe', {}, { weights: dir });
    expect(beside.from).toBe('beside-weights');
    expect(beside.tokenizer.tokenize(['SEVERE AORTIC STENOSIS. '])).toEqual(want);
    // …and an explicit one wins over both (a broken one proves it is the one read).
    const bad = join(dir, 'broken.txt.gz');
    writeFileSync(bad, new Uint8Array([0x1f, 0x8b, 0, 1, 2, 3]));
    await expect(resolveTokenizer(platform, 'bpe', { vocab: bad }, { weights: dir })).rejects.toThrow(TokenizerError);
    expect((await resolveTokenizer(platform, 'bpe', { vocab: new Uint8Array(readFileSync(BPE)) }, { weights: dir })).from).toBe('explicit');
  });

  it('the tokenizer follows the published model', () => {
    expect(tokenizerForModel('echo-clip')).toBe('bpe');
    expect(tokenizerForModel('echo-clip-r')).toBe('template');
    expect(tokenizerForModel('hf-hub:mkaichristensen/echo-clip-r')).toBe('template');
    expect(tokenizerForModel('hf-hub:mkaichristensen/echo-clip')).toBe('bpe');
    expect(tokenizerForModel('../shared/fixtures/echoclip_tiny')).toBeUndefined();
  });
});

describe('pinned echo_CLIP files', () => {
  it('default to GitHub raw files at the pinned commit; the option and the environment override', () => {
    const saved = process.env.ECHOCLIP_ASSETS_BASE_URL;
    delete process.env.ECHOCLIP_ASSETS_BASE_URL;
    try {
      expect(assetsBaseUrl()).toBe('https://raw.githubusercontent.com/echonet/echo_CLIP/23cd3278b5b62beabc101e07feb461e905ac3180');
      process.env.ECHOCLIP_ASSETS_BASE_URL = 'http://mirror.test/x/';
      expect(assetsBaseUrl()).toBe('http://mirror.test/x');
      expect(assetsBaseUrl('http://opt.test')).toBe('http://opt.test');
    } finally {
      if (saved === undefined) delete process.env.ECHOCLIP_ASSETS_BASE_URL;
      else process.env.ECHOCLIP_ASSETS_BASE_URL = saved;
    }
  });

  it('download once into the cache (sha256 checked), then work offline', async () => {
    const cacheDir = tmp('cache');
    const server = await startHubServer({ 'echonet/echo_CLIP': { dir: echoClipRepo() } });
    const progress: string[] = [];
    try {
      const file = await pinnedAssetFile(PROMPTS_ASSET, { assetsBaseUrl: base(server.url), cacheDir, onDownload: (e) => progress.push(e.file) });
      expect(file).toBe(pinnedAssetPath(PROMPTS_ASSET, cacheDir));
      expect(file.startsWith(join(cacheDir, 'assets'))).toBe(true);
      expect(readFileSync(file)).toEqual(readFileSync(PROMPTS));
      expect(progress).toContain('prompts_used.json');
      const r = await resolveTokenizer(platform, 'template', {}, { assetsBaseUrl: base(server.url), cacheDir });
      expect(r.from).toBe('downloaded');
      expect(server.requests.filter((q) => q.method === 'GET').map((q) => q.url)).toEqual([
        '/echonet/echo_CLIP/resolve/main/prompts_used.json', '/echonet/echo_CLIP/resolve/main/template_vocab.txt',
      ]);
    } finally {
      await server.close();
    }
    // The server is gone: both come from the cache, without a request.
    const tasks = await resolvePromptSets(platform, undefined, { assetsBaseUrl: base(server.url), cacheDir });
    expect(tasks.from).toBe('downloaded');
    expect(tasks.tasks).toHaveLength(16);
    const tok = await resolveTokenizer(platform, 'template', {}, { assetsBaseUrl: base(server.url), cacheDir });
    expect(tok.tokenizer.tokenize(['SEVERE AORTIC STENOSIS. '])[0]).toHaveLength(77);
  });

  it('a sha256 mismatch is a DownloadError and leaves nothing in the cache; a damaged cache entry is fetched again', async () => {
    const cacheDir = tmp('cache');
    // One byte flipped in transit, and a wrong file under the right name.
    const server = await startHubServer({ 'echonet/echo_CLIP': { dir: echoClipRepo({ 'prompts_used.json': PROMPTS, 'template_vocab.txt': PROMPTS }), corrupt: ['prompts_used.json'] } });
    try {
      await expect(pinnedAssetFile(PROMPTS_ASSET, { assetsBaseUrl: base(server.url), cacheDir })).rejects.toThrow(DownloadError);
      await expect(pinnedAssetFile(PROMPTS_ASSET, { assetsBaseUrl: base(server.url), cacheDir })).rejects.toThrow(/sha256 checksum mismatch: expected 21a6cee0/);
      await expect(pinnedAssetFile(TEMPLATE_VOCAB_ASSET, { assetsBaseUrl: base(server.url), cacheDir })).rejects.toThrow(/sha256 checksum mismatch.*--template-vocab/);
      const dir = join(cacheDir, 'assets');
      const left = existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => f.includes('.')) : [];
      expect(left).toEqual([]);
    } finally {
      await server.close();
    }
    const good = await startHubServer({ 'echonet/echo_CLIP': { dir: echoClipRepo() } });
    try {
      const file = await pinnedAssetFile(PROMPTS_ASSET, { assetsBaseUrl: base(good.url), cacheDir });
      writeFileSync(file, '{"tampered": true}');
      expect(readFileSync(await pinnedAssetFile(PROMPTS_ASSET, { assetsBaseUrl: base(good.url), cacheDir }))).toEqual(readFileSync(PROMPTS));
      expect(good.requests.filter((q) => q.method === 'GET')).toHaveLength(2);
    } finally {
      await good.close();
    }
  });

  it('offline with an empty cache: a DownloadError that names --prompts', async () => {
    const server = await startHubServer({});
    const url = base(server.url);
    await server.close();
    const err = await pinnedAssetFile(PROMPTS_ASSET, { assetsBaseUrl: url, cacheDir: tmp('cache') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(String((err as Error).message)).toMatch(/--prompts/);
  });

  it('prompt-set resolution order: explicit, then beside local weights, then the download', async () => {
    const dir = tmp('weights');
    copyFileSync(PROMPTS, join(dir, 'prompts_used.json'));
    expect((await resolvePromptSets(platform, undefined, { weights: dir })).from).toBe('beside-weights');
    const mine = { only_task: { mode: 'binary', label_sources: ['A PACEMAKER. '] } };
    const explicit = await resolvePromptSets(platform, mine, { weights: dir });
    expect([explicit.from, explicit.tasks.map((t) => t.name)]).toEqual(['explicit', ['only_task']]);
    await expect(resolvePromptSets(platform, join(dir, 'missing.json'), { weights: dir })).rejects.toThrow(UsageError);
  });
});
