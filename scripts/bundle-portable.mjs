// Builds portable/: one folder that runs echoclip on a bare Linux x86-64 GPU machine with no Node,
// no npm and no network (see scripts/portable/README.txt). Node and dawn.node travel xz-compressed;
// Debian's Vulkan loader travels as its .deb, unpacked by run.sh only where the machine has none.
//
//   node scripts/bundle-portable.mjs [--out DIR] [--fixtures DIR] [--samples DIR] [--no-build]
//
// --no-build reuses dist/ as it is (tests: rebuilding would pull dist/ from under other suites).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(new URL('..', import.meta.url).pathname);
const MAX_BYTES = 48 * 1024 * 1024;
// The files run.sh needs next to it, from scripts/portable/.
const BUNDLE_SCRIPTS = ['run.sh', 'find-icd.sh', 'lib.sh', 'summarize.mjs', 'README.txt'];

/** A build failure in the house error shape: what, why, hint (printed without a stack). */
class BundleError extends Error {
  constructor(what, why, hint) {
    super(`${what}: ${why}${hint ? ` (${hint})` : ''}`);
  }
}

function fail(what, why, hint) {
  throw new BundleError(what, why, hint);
}

const log = (line) => process.stderr.write(`bundle:portable: ${line}\n`);

let opts;
try {
  opts = parseArgs({ options: { out: { type: 'string' }, fixtures: { type: 'string' }, samples: { type: 'string' }, 'no-build': { type: 'boolean' } }, strict: true }).values;
} catch (e) {
  process.stderr.write(`bundle:portable: error: arguments: ${e.message} (usage: node scripts/bundle-portable.mjs [--out DIR] [--fixtures DIR] [--samples DIR] [--no-build])\n`);
  process.exit(2);
}
const outDir = resolve(opts.out ?? join(root, 'portable'));
const fixturesDir = resolve(root, opts.fixtures ?? '../shared/fixtures');
// The example echo and echo_CLIP's prompt set, for the bench's end-to-end zero-shot through the CLI
// (the GPU machine has no network to download the prompts). For our own runs only: the bundle is
// never published.
const samplesDir = resolve(root, opts.samples ?? '../shared/samples');
const SAMPLE_FILES = ['example_video.avi', 'prompts_used.json'];
const cacheDir = join(root, '.cache', 'portable');
// The xz -9 outputs (~75 s of CPU for node + dawn.node) are keyed by the input's sha256, so they are
// kept per user, not per checkout: a fresh clone on the same machine reuses them.
const xzCacheDir = process.env.ECHOCLIP_BUILD_CACHE ?? join(homedir(), '.cache', 'echoclip', 'portable-build');

function sha256File(path) {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function requireTool(tool, hint) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    fail(tool, 'not found on PATH', hint);
  }
}

/**
 * `xz -9` of a file, cached under ~/.cache/echoclip/portable-build/ by the source's sha256 (xz -9 of node takes
 * about a minute). Written to a temp name first so an interrupted build never leaves a bad cache.
 */
function xzCached(src, label) {
  const sha = sha256File(src);
  const cached = join(xzCacheDir, `${label}-${sha.slice(0, 16)}.xz`);
  if (existsSync(cached)) {
    log(`${label}: cached ${cached}`);
    return { path: cached, sha256: sha };
  }
  mkdirSync(xzCacheDir, { recursive: true });
  log(`${label}: xz -9 of ${src} (${(statSync(src).size / 2 ** 20).toFixed(1)} MiB; about a minute per 100 MiB)`);
  const partial = `${cached}.partial-${process.pid}`;
  const fd = openSync(partial, 'w');
  try {
    execFileSync('xz', ['-9', '-c', src], { stdio: ['ignore', fd, 'inherit'] });
  } catch (e) {
    rmSync(partial, { force: true });
    fail(`xz -9 ${src}`, String(e.message ?? e));
  } finally {
    closeSync(fd);
  }
  renameSync(partial, cached);
  return { path: cached, sha256: sha };
}

/** Debian's libvulkan1 .deb for this machine's release, downloaded once into the cache. */
function vulkanLoaderDeb() {
  mkdirSync(cacheDir, { recursive: true });
  const have = readdirSync(cacheDir).filter((f) => /^libvulkan1_.*_amd64\.deb$/.test(f)).sort();
  if (have.length) {
    log(`libvulkan1: cached ${have.at(-1)}`);
    return join(cacheDir, have.at(-1));
  }
  requireTool('apt-get', "the bundle carries Debian's Vulkan loader; build on Debian/Ubuntu with apt");
  const tmp = mkdtempSync(join(tmpdir(), 'echoclip-deb-'));
  try {
    // apt drops to the _apt user for downloads: let it write here (quiets a warning, nothing else).
    execFileSync('chmod', ['0777', tmp]);
    try {
      execFileSync('apt-get', ['download', 'libvulkan1:amd64'], { cwd: tmp, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch (e) {
      fail('apt-get download libvulkan1', `failed (${String(e.message ?? e).split('\n')[0]})`, "the bundle needs Debian's Vulkan loader: check the apt sources / mirror, or run 'apt-get update' first");
    }
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) fail('apt-get download libvulkan1', 'finished but left no .deb', 'check the apt sources');
    const dest = join(cacheDir, deb);
    cpSync(join(tmp, deb), dest);
    return dest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The selfcheck fixture pack as fixtures.tar.xz, written (and compressed, once) by scripts/selfcheck-pack.mjs. */
function fixturePack(dest) {
  const packer = join(root, 'scripts', 'selfcheck-pack.mjs');
  if (!existsSync(fixturesDir)) fail(`--fixtures ${fixturesDir}`, 'no such directory', 'pass the shared fixtures directory (default ../shared/fixtures)');
  const tmp = mkdtempSync(join(tmpdir(), 'echoclip-pack-'));
  try {
    log(`fixtures: scripts/selfcheck-pack.mjs --fixtures ${fixturesDir}`);
    let info;
    try {
      info = JSON.parse(execFileSync(process.execPath, [packer, '--fixtures', fixturesDir, '--out', join(tmp, 'pack'), '--archive', dest], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' }));
    } catch (e) {
      fail('scripts/selfcheck-pack.mjs', `failed (${String(e.message ?? e).split('\n')[0]})`);
    }
    return { source: 'scripts/selfcheck-pack.mjs', files: info.files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Every regular file under dir, as paths relative to it, sorted. */
function listFiles(dir, base = dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, base));
    else if (e.isFile()) out.push(relative(base, p));
  }
  return out.sort();
}

/** The newest glibc / libstdc++ symbol versions the binaries ask for (what the target must have). */
function requiredLibs(binaries) {
  const newer = (a, b) => {
    const [x, y] = [a, b].map((v) => v.split('.').map(Number));
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
    return false;
  };
  const max = (a, b) => (newer(b, a) ? b : a);
  let glibc = '0', glibcxx = '0';
  for (const bin of binaries) {
    const text = readFileSync(bin).toString('latin1');
    for (const m of text.matchAll(/GLIBC_(2\.\d+(?:\.\d+)?)\0/g)) glibc = max(glibc, m[1]);
    for (const m of text.matchAll(/GLIBCXX_(3\.4\.\d+)\0/g)) glibcxx = max(glibcxx, m[1]);
  }
  return { glibc, glibcxx };
}

function gitCommit() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: null };
  }
}

// ---- build
function bundle() {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail('platform', `this builds a linux-x64 bundle from the running Node binary, but this is ${process.platform}-${process.arch}`, 'build on a Linux x86-64 machine');
  requireTool('xz', 'install xz-utils');
  requireTool('tar', 'install tar');
  if (!opts['no-build']) {
    log('node scripts/build.mjs');
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) fail('dist/cli/main.js', 'missing', "run 'node scripts/build.mjs' (or drop --no-build)");
  const webgpuDir = join(root, 'node_modules', 'webgpu');
  const dawnNode = join(webgpuDir, 'dist', 'linux-x64', 'dawn.node');
  if (!existsSync(dawnNode)) fail(dawnNode, 'missing', "run 'npm ci'");

  const nodeXz = xzCached(process.execPath, 'node');
  const dawnXz = xzCached(dawnNode, 'dawn.node');
  const deb = vulkanLoaderDeb();

  mkdirSync(dirname(outDir), { recursive: true });
  const stage = mkdtempSync(join(dirname(outDir), `.${basename(outDir)}.tmp-`));
  try {
    const app = join(stage, 'app');
    // The library and CLI as build.mjs wrote them, minus source maps and the browser-only outputs.
    cpSync(join(root, 'dist'), join(app, 'dist'), {
      recursive: true,
      filter: (src) => {
        const rel = relative(join(root, 'dist'), src);
        return !rel.endsWith('.map') && rel !== 'web' && rel !== 'browser' && !rel.startsWith('web/') && !rel.startsWith('browser/');
      },
    });
    cpSync(join(root, 'bin', 'echoclip.js'), join(app, 'bin', 'echoclip.js'));
    // The shipped CLIP vocabulary: the built code looks for assets/ one level above dist/.
    cpSync(join(root, 'assets'), join(app, 'assets'), { recursive: true });
    if (SAMPLE_FILES.every((f) => existsSync(join(samplesDir, f)))) {
      for (const f of SAMPLE_FILES) cpSync(join(samplesDir, f), join(stage, 'samples', f));
    } else log(`samples: ${samplesDir} lacks ${SAMPLE_FILES.join(' / ')}: the bench's CLI zero-shot case will be skipped`);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const webgpuPkg = JSON.parse(readFileSync(join(webgpuDir, 'package.json'), 'utf8'));
    // ESM ("type": "module") is what makes dist/*.js and bin/echoclip.js load as modules.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true, dependencies: { webgpu: webgpuPkg.version } }, null, 2) + '\n');
    // `import('webgpu')` from app/dist resolves app/node_modules/webgpu; its index.js needs only
    // Node built-ins and dist/<platform>-<arch>/dawn.node (decompressed there by run.sh).
    const wg = join(app, 'node_modules', 'webgpu');
    for (const f of ['package.json', 'index.js', 'types.d.ts', 'LICENSE.md']) if (existsSync(join(webgpuDir, f))) cpSync(join(webgpuDir, f), join(wg, f));
    mkdirSync(join(wg, 'dist', 'linux-x64'), { recursive: true });
    cpSync(dawnXz.path, join(wg, 'dist', 'linux-x64', 'dawn.node.xz'));

    cpSync(nodeXz.path, join(stage, 'node.xz'));
    cpSync(deb, join(stage, basename(deb)));
    const pack = fixturePack(join(stage, 'fixtures.tar.xz'));
    for (const f of BUNDLE_SCRIPTS) cpSync(join(root, 'scripts', 'portable', f), join(stage, f));
    for (const f of ['run.sh', 'find-icd.sh']) execFileSync('chmod', ['0755', join(stage, f)]);

    const files = {};
    let total = 0;
    for (const rel of listFiles(stage)) {
      const size = statSync(join(stage, rel)).size;
      total += size;
      files[rel] = { size, sha256: sha256File(join(stage, rel)) };
    }
    const manifest = {
      name: 'echoclip-webgpu portable GPU bundle',
      version: pkg.version,
      built: new Date().toISOString(),
      git: gitCommit(),
      node: { version: process.version, sha256: nodeXz.sha256 },
      webgpu: { version: webgpuPkg.version, dawnNodeSha256: dawnXz.sha256 },
      vulkanLoader: basename(deb),
      requires: requiredLibs([process.execPath, dawnNode]),
      fixtures: pack,
      /** Bytes of every file but manifest.json. */
      totalBytes: total,
      files,
    };
    const manifestText = JSON.stringify(manifest, null, 2) + '\n';
    writeFileSync(join(stage, 'manifest.json'), manifestText);
    total += Buffer.byteLength(manifestText);
    if (total > MAX_BYTES) {
      const largest = Object.entries(files).sort((a, b) => b[1].size - a[1].size).slice(0, 3).map(([f, v]) => `${f} ${(v.size / 2 ** 20).toFixed(1)} MiB`);
      fail(outDir, `the bundle would be ${(total / 2 ** 20).toFixed(1)} MiB, over the ${MAX_BYTES / 2 ** 20} MiB limit (largest: ${largest.join(', ')})`, 'drop what run.sh does not need, or shrink the fixture pack');
    }
    rmSync(outDir, { recursive: true, force: true });
    renameSync(stage, outDir);
    execFileSync('chmod', ['0755', outDir]); // mkdtemp made it 0700
    log(`${relative(process.cwd(), outDir) || outDir}/ ready: ${(total / 2 ** 20).toFixed(1)} MiB, ${Object.keys(files).length + 1} files (node ${process.version}, webgpu ${webgpuPkg.version}, fixtures: ${pack.files} files)`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

try {
  bundle();
} catch (e) {
  if (!(e instanceof BundleError)) throw e;
  process.stderr.write(`bundle:portable: error: ${e.message}\n`);
  process.exit(1);
}
