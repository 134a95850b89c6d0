// `npm pack` → a package whose exports resolve in Node, Deno and a bundler, with types and the
// shipped CLIP vocabulary; `webgpu` (Dawn) is an optional peer that only Node loads.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const exec = promisify(execFile);
let app = '';
/** The same package without `webgpu`, as a browser or Deno project installs it. */
let bare = '';
const SHARED = resolve(root, '../shared');

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'echoclip-pack-'));
  // --ignore-scripts: dist/ is already built by scripts/test.sh; prepare would rebuild it.
  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, timeout: 120_000 });
  const tgz = join(dir, JSON.parse(stdout)[0].filename);
  app = join(dir, 'app');
  const pkgDir = join(app, 'node_modules', 'echoclip-webgpu');
  mkdirSync(pkgDir, { recursive: true });
  await exec('tar', ['-xzf', tgz, '-C', pkgDir, '--strip-components=1']);
  bare = join(dir, 'bare');
  // A copy, not a symlink: Node resolves a symlinked package from its real path, next to webgpu.
  mkdirSync(join(bare, 'node_modules', 'echoclip-webgpu'), { recursive: true });
  await exec('tar', ['-xzf', tgz, '-C', join(bare, 'node_modules', 'echoclip-webgpu'), '--strip-components=1']);
  writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'bare', type: 'module', dependencies: { 'echoclip-webgpu': '*' } }));
  // The optional peer a Node project adds, as npm would install it.
  symlinkSync(join(root, 'node_modules', 'webgpu'), join(app, 'node_modules', 'webgpu'));
  for (const dep of ['debug', 'ms', '@webgpu']) if (existsSync(join(root, 'node_modules', dep))) symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', dependencies: { 'echoclip-webgpu': '*' } }));
}, 180_000);

describe('npm package', () => {
  it('ships dist, bin, types and the CLIP vocabulary, never echo_CLIP\'s files; webgpu is an optional peer', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/echoclip-webgpu/package.json'), 'utf8'));
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.peerDependencies).toEqual({ webgpu: expect.any(String) });
    expect(pkg.peerDependenciesMeta).toEqual({ webgpu: { optional: true } });
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/browser/echoclip.js', 'dist/cli/main.js', 'bin/echoclip.js', 'assets/bpe_simple_vocab_16e6.txt.gz']) {
      expect(existsSync(join(app, 'node_modules/echoclip-webgpu', f)), f).toBe(true);
    }
    const all = readdirSync(join(app, 'node_modules/echoclip-webgpu'), { recursive: true }).map(String);
    expect(all.filter((f) => /prompts_used|template_vocab/.test(f))).toEqual([]);
    expect(readdirSync(join(app, 'node_modules/echoclip-webgpu'))).not.toContain('test');
  });

  it('runs the one-line API from the installed package (vocabulary found beside dist/)', async () => {
    const script = `import { EchoClip } from 'echoclip-webgpu';
      const echo = await EchoClip.fromPretrained(${JSON.stringify(`${SHARED}/fixtures/echoclip_tiny`)}, { prompts: ${JSON.stringify(`${SHARED}/samples/prompts_used.json`)}, promptCache: false });
      const r = await echo.zeroShot(${JSON.stringify(`${SHARED}/samples/example_video.avi`)}, { tasks: 'pacemaker,ejection_fraction' });
      const from = (await echo.tokenizer()).from; echo.dispose();
      console.log(JSON.stringify({ from, tasks: Object.keys(r), mode: r.pacemaker.mode }));`;
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 180_000 });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ from: 'shipped', tasks: ['pacemaker', 'ejection_fraction'], mode: 'binary' });
  }, 200_000);

  it('without webgpu, Node names the fix: DeviceUnavailableError with hint npm install webgpu', async () => {
    const script = `import { requestDevice } from 'echoclip-webgpu';
      try { await requestDevice(); console.log('{}'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, hint: e.hint })); }`;
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: bare, timeout: 60_000 });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ name: 'DeviceUnavailableError', code: 'device-unavailable', hint: 'npm install webgpu' });
  });

  it('resolves and runs in Node (main and ./node entry, and the bin)', async () => {
    const script = `import * as m from 'echoclip-webgpu'; import * as n from 'echoclip-webgpu/node';
      const gpu = await m.requestDevice(); const r = await m.selfTest(gpu); gpu.destroy();
      console.log(JSON.stringify({ pass: r.pass, model: typeof m.EchoClipModel, open: typeof n.openWeights }));`;
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 120_000 });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ pass: true, model: 'function', open: 'function' });
    const help = await exec(process.execPath, ['node_modules/echoclip-webgpu/bin/echoclip.js', '--help'], { cwd: app });
    expect(help.stdout).toContain('zero-shot');
  });

  it('resolves and runs in Deno', async () => {
    writeFileSync(join(app, 'main.ts'), `import { requestDevice, selfTest } from 'echoclip-webgpu';
      const gpu = await requestDevice(); const r = await selfTest(gpu); gpu.destroy(); console.log(JSON.stringify({ pass: r.pass, runtime: r.runtime }));`);
    const { stdout } = await exec(join(root, 'node_modules/.bin/deno'), ['run', '-A', '--no-prompt', 'main.ts'], { cwd: app, timeout: 120_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' } });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ pass: true, runtime: 'deno' });
  });

  it('bundles for the browser with no Node built-ins and no Dawn', async () => {
    writeFileSync(join(bare, 'web.js'), `import { requestDevice, EchoClip, EchoClipModel, tokenizer } from 'echoclip-webgpu'; console.log(requestDevice, EchoClip, EchoClipModel, tokenizer);`);
    const r = await build({ entryPoints: [join(bare, 'web.js')], bundle: true, write: false, platform: 'browser', format: 'esm', absWorkingDir: bare, logLevel: 'silent' });
    const code = r.outputFiles[0].text;
    expect(code).not.toMatch(/from\s*["']node:/);
    expect(code).not.toMatch(/dawn\.node/);
    expect(code.length).toBeGreaterThan(10_000);
    // The shipped vocabulary is referenced the way bundlers copy assets.
    expect(code).toMatch(/new URL\(["']\.\.\/\.\.\/assets\/bpe_simple_vocab_16e6\.txt\.gz["'], import\.meta\.url\)/);
  });
});
