// The acceptance for the portable bundle: build it, copy it into an empty folder, run
// `run.sh 120 OUT` there with an empty environment and a PATH without node, on lavapipe through
// the bundled Debian Vulkan loader. Needs dist/ built (scripts/test.sh builds it first) and the
// Debian mirror for the loader .deb on a fresh clone (cached under .cache/portable/ after).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_TOOLS, LVP_ICD, ROOT, runWith, tempDir, toolDir, type Run } from './helpers.js';

const MAX_BYTES = 48 * 1024 * 1024;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('portable bundle (npm run bundle:portable + run.sh)', () => {
  const work = tempDir('portable');
  const bundle = join(work, 'portable');
  let manifest: { totalBytes: number; files: Record<string, { size: number; sha256: string }>; node: { version: string }; webgpu: { version: string }; fixtures: { files: number } };
  let run: Run;
  const out = 'OUT';
  let machine: string;

  beforeAll(async () => {
    // --no-build: dist/ is shared with the other suites running now; the build happened before them.
    const b = await runWith(process.execPath, [join(ROOT, 'scripts', 'bundle-portable.mjs'), '--no-build', '--out', bundle], { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, { cwd: ROOT, timeoutMs: 600_000 });
    if (b.code !== 0) throw new Error(`bundle-portable.mjs failed (${b.code}):\n${b.stderr}`);
    manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));

    // An empty folder on a "bare machine": nothing from this environment, no node on PATH.
    machine = tempDir('gpu-machine');
    cpSync(bundle, join(machine, 'portable'), { recursive: true });
    const path = toolDir(BASE_TOOLS);
    run = await runWith('bash', ['portable/run.sh', '120', out], { PATH: path, ECHOCLIP_ICD: LVP_ICD, ECHOCLIP_VULKAN_LOADER: 'bundled' }, { cwd: machine, timeoutMs: 200_000 });
  }, 800_000);

  afterAll(() => {
    // ~80 MB per run; ECHOCLIP_KEEP_TMP=1 keeps them to look at.
    if (process.env.ECHOCLIP_KEEP_TMP !== '1') for (const d of [work, machine]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('is at most 48 MiB, carries only the linux-x64 dawn.node, no source maps or browser builds, and its manifest is right', () => {
    const files = filesUnder(bundle);
    const total = files.reduce((a, f) => a + statSync(join(bundle, f)).size, 0);
    expect(total).toBeLessThanOrEqual(MAX_BYTES);
    expect(files).toEqual(expect.arrayContaining(['run.sh', 'find-icd.sh', 'lib.sh', 'summarize.mjs', 'README.txt', 'manifest.json', 'node.xz', 'fixtures.tar.xz', 'app/package.json', 'app/bin/echoclip.js', 'app/dist/cli/main.js', 'app/node_modules/webgpu/index.js', 'app/node_modules/webgpu/package.json', 'app/node_modules/webgpu/dist/linux-x64/dawn.node.xz', 'app/assets/bpe_simple_vocab_16e6.txt.gz', 'samples/example_video.avi', 'samples/prompts_used.json']));
    expect(files.some((f) => /^libvulkan1_.*_amd64\.deb$/.test(f))).toBe(true);
    expect(files.filter((f) => f.includes('dawn.node'))).toEqual(['app/node_modules/webgpu/dist/linux-x64/dawn.node.xz']);
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('app/dist/web/') || f.startsWith('app/dist/browser/'))).toEqual([]);
    expect(readdirSync(join(bundle, 'app', 'node_modules'))).toEqual(['webgpu']);
    // Every file but the manifest itself, with its size and sha256.
    expect(Object.keys(manifest.files).sort()).toEqual(files.filter((f) => f !== 'manifest.json'));
    for (const [f, v] of Object.entries(manifest.files)) {
      expect(statSync(join(bundle, f)).size, f).toBe(v.size);
      expect(createHash('sha256').update(readFileSync(join(bundle, f))).digest('hex'), f).toBe(v.sha256);
    }
    // totalBytes: every file but manifest.json (which cannot hold its own size).
    expect(manifest.totalBytes).toBe(total - statSync(join(bundle, 'manifest.json')).size);
    expect(manifest.node.version).toBe(process.version);
    const webgpu = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'webgpu', 'package.json'), 'utf8'));
    expect(manifest.webgpu.version).toBe(webgpu.version);
  });

  it('the test PATH really has no node', async () => {
    const r = await runWith('bash', ['-c', 'command -v node npm npx || echo none'], { PATH: toolDir(BASE_TOOLS) });
    expect(r.stdout.trim()).toBe('none');
  });

  it('runs from an empty folder without node: probe passes on lavapipe through the bundled loader', () => {
    const log = readFileSync(join(machine, out, 'run.log'), 'utf8');
    expect(log).toMatch(/node v\d+\.\d+\.\d+/);
    expect(log).toMatch(/Vulkan loader: bundled libvulkan1_.*\.deb -> .*\/usr\/lib\/x86_64-linux-gnu\/libvulkan\.so\.1/);
    expect(log).toContain(`Vulkan driver: ${LVP_ICD}`);
    expect(log).toMatch(new RegExp(`fixtures: ${manifest.fixtures.files} files in `));
    const probe = JSON.parse(readFileSync(join(machine, out, 'probe.json'), 'utf8'));
    expect(probe.selfTest.pass).toBe(true);
    expect(probe.adapter.description).toMatch(/llvmpipe/);
    expect(log).toContain('== probe: ok');
  });

  it('selfcheck and the short bench write their JSON; the exit code says whether probe + selfcheck passed', () => {
    const log = readFileSync(join(machine, out, 'run.log'), 'utf8');
    // A step killed at its hard limit writes no JSON: say which one in the failure.
    const steps = log.split('\n').filter((l) => l.includes('] == ')).join('\n');
    for (const f of ['selfcheck.json', 'bench-gpu.json', 'bench-gpu.md', 'bench-gpu.svg']) expect(existsSync(join(machine, out, f)), `${f}; steps:\n${steps}`).toBe(true);
    const selfcheck = JSON.parse(readFileSync(join(machine, out, 'selfcheck.json'), 'utf8'));
    expect(selfcheck.checks.length).toBeGreaterThan(0);
    expect(selfcheck.adapter.description).toMatch(/llvmpipe/);
    const bench = JSON.parse(readFileSync(join(machine, out, 'bench-gpu.json'), 'utf8'));
    // A short benchmark that really ran: at least one of our cases timed without error.
    expect(bench.cases.filter((c: { impl: string; error?: string; median_ms: number }) => c.impl === 'echoclip' && !c.error && c.median_ms > 0).length, steps).toBeGreaterThan(0);
    expect(selfcheck.pass, steps).toBe(true);
    expect(run.code, steps).toBe(0);
    expect(log).toContain('RESULT: probe and selfcheck passed');
    expect(run.stdout).toContain('== echoclip GPU run');
    expect(run.stdout).toMatch(/selfcheck +\d+ passed, 0 failed/);
  });

  it('stays inside its limits: SECONDS, at most 8 files in OUTDIR, none over 16 MiB, no temp dir left, bundle untouched', () => {
    expect(run.seconds).toBeLessThan(120 + 5);
    const outFiles = readdirSync(join(machine, out));
    expect(outFiles.length).toBeLessThanOrEqual(8);
    for (const f of outFiles) expect(statSync(join(machine, out, f)).size, f).toBeLessThanOrEqual(16 * 1024 * 1024);
    const tmp = /unpacking into (\S+)/.exec(readFileSync(join(machine, out, 'run.log'), 'utf8'))?.[1];
    expect(tmp).toMatch(/^\/tmp\/echoclip-portable\./);
    expect(existsSync(tmp!)).toBe(false);
    // Only the bundle and OUTDIR in the folder; the bundle's files as they were built.
    expect(readdirSync(machine).sort()).toEqual([out, 'portable']);
    expect(filesUnder(join(machine, 'portable'))).toEqual(filesUnder(bundle));
    expect(execFileSync('bash', ['-c', `cd ${JSON.stringify(join(machine, 'portable'))} && sha256sum node.xz`], { encoding: 'utf8' }).split(' ')[0]).toBe(manifest.files['node.xz'].sha256);
  });
});
