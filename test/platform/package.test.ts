// `npm pack` → a package whose exports resolve in Node, Deno and a bundler, with types, and whose
// runtime needs nothing but its declared dependencies.
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

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'echoclip-pack-'));
  // --ignore-scripts: dist/ is already built by scripts/test.sh; prepare would rebuild it.
  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, timeout: 120_000 });
  const tgz = join(dir, JSON.parse(stdout)[0].filename);
  app = join(dir, 'app');
  const pkgDir = join(app, 'node_modules', 'echoclip-webgpu');
  mkdirSync(pkgDir, { recursive: true });
  await exec('tar', ['-xzf', tgz, '-C', pkgDir, '--strip-components=1']);
  // The only runtime dependency, as npm would install it.
  symlinkSync(join(root, 'node_modules', 'webgpu'), join(app, 'node_modules', 'webgpu'));
  for (const dep of ['debug', 'ms', '@webgpu']) if (existsSync(join(root, 'node_modules', dep))) symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', dependencies: { 'echoclip-webgpu': '*' } }));
}, 180_000);

describe('npm package', () => {
  it('ships dist, bin and types, and declares only runtime dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/echoclip-webgpu/package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toEqual(['webgpu']);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/browser/echoclip.js', 'dist/cli/main.js', 'bin/echoclip.js']) {
      expect(existsSync(join(app, 'node_modules/echoclip-webgpu', f)), f).toBe(true);
    }
    expect(readdirSync(join(app, 'node_modules/echoclip-webgpu'))).not.toContain('test');
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
    writeFileSync(join(app, 'web.js'), `import { requestDevice, EchoClipModel, tokenizer } from 'echoclip-webgpu'; console.log(requestDevice, EchoClipModel, tokenizer);`);
    const r = await build({ entryPoints: [join(app, 'web.js')], bundle: true, write: false, platform: 'browser', format: 'esm', absWorkingDir: app, logLevel: 'silent' });
    const code = r.outputFiles[0].text;
    expect(code).not.toMatch(/from\s*["']node:/);
    expect(code).not.toMatch(/dawn\.node/);
    expect(code.length).toBeGreaterThan(10_000);
  });
});
