// The tokenizer core runs unchanged outside Node: bundled for the browser (no node: imports),
// then checked against every fixture case in Deno and in headless Chromium.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BPE_GZ, sharedPath, TEMPLATE_VOCAB } from './helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BPE_FIXTURE = sharedPath('fixtures', 'tokenizer_clip_bpe.json');
const TEMPLATE_FIXTURE = sharedPath('fixtures', 'tokenizer_template.json');
const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';

// The same check in every runtime: tokenizers built from bytes/strings, all fixture cases compared.
const SMOKE = `
export async function smoke(mod, gz, vocab, bpeCases, templateCases) {
  const bpe = await mod.ClipBpeTokenizer.fromGzip(gz);
  const tt = mod.TemplateTokenizer.fromVocab(vocab);
  let mismatches = 0;
  for (const c of bpeCases) if (Array.from(bpe.tokenizeOne(c.text)).join() !== c.ids.join()) mismatches++;
  for (const c of templateCases) {
    let got;
    try { got = Array.from(tt.tokenizeOne(c.text)).join(); } catch (e) { got = e.name; }
    if (got !== (c.error ? 'TokenizerError' : c.ids.join())) mismatches++;
  }
  return { checked: bpeCases.length + templateCases.length, mismatches };
}`;

let dir: string;
let bundle: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'echoclip-tok-platform-'));
  const out = await build({ entryPoints: [path.join(root, 'src/tokenizer/index.ts')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
  bundle = out.outputFiles[0].text;
  writeFileSync(path.join(dir, 'tokenizer.js'), bundle);
  writeFileSync(path.join(dir, 'smoke.js'), SMOKE);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tokenizer outside Node', () => {
  test('the browser bundle has no Node built-ins', () => {
    expect(bundle).not.toMatch(/from\s*["']node:|require\(["'](node:)?(fs|path|zlib)/);
  });

  test('Deno: every fixture case is exact', () => {
    const deno = path.join(root, 'node_modules/.bin/deno');
    const script = path.join(dir, 'deno-main.js');
    writeFileSync(script, `import * as mod from './tokenizer.js'; import { smoke } from './smoke.js';
const [gz, vocab, b, t] = Deno.args;
const r = await smoke(mod, await Deno.readFile(gz), await Deno.readTextFile(vocab),
  JSON.parse(await Deno.readTextFile(b)).cases, JSON.parse(await Deno.readTextFile(t)).cases);
console.log(JSON.stringify(r));`);
    const r = spawnSync(deno, ['run', '--no-config', '--no-lock', `--allow-read=${dir},${path.dirname(BPE_GZ)},${path.dirname(BPE_FIXTURE)}`, script, BPE_GZ, TEMPLATE_VOCAB, BPE_FIXTURE, TEMPLATE_FIXTURE], { encoding: 'utf8', env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' } });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ checked: 1553, mismatches: 0 });
  });

  test('Chromium: every fixture case is exact', async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      // Passed as source text: vitest rewrites dynamic import() in functions it compiles.
      const pageMain = `async (code, smokeCode, gzB64, vocab, b, t) => {
        const load = (src) => import(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
        const [mod, { smoke }] = await Promise.all([load(code), load(smokeCode)]);
        const gz = Uint8Array.from(atob(gzB64), (ch) => ch.charCodeAt(0));
        return smoke(mod, gz, vocab, JSON.parse(b).cases, JSON.parse(t).cases);
      }`;
      const args = [bundle, SMOKE, readFileSync(BPE_GZ).toString('base64'), readFileSync(TEMPLATE_VOCAB, 'utf8'), readFileSync(BPE_FIXTURE, 'utf8'), readFileSync(TEMPLATE_FIXTURE, 'utf8')];
      const result = await page.evaluate(`(${pageMain})(${args.map((a) => JSON.stringify(a)).join(',')})`);
      expect(result).toEqual({ checked: 1553, mismatches: 0 });
    } finally {
      await browser.close();
    }
  });
});
