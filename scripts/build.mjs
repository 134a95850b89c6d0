// Builds dist/: the ESM library + CLI (Node/Deno), the browser bundle, and type declarations.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
rmSync(`${root}dist`, { recursive: true, force: true });

const common = { bundle: true, format: 'esm', target: 'es2022', sourcemap: true, logLevel: 'warning', absWorkingDir: root };

// Library and CLI: code-split so `echoclip tokenize` never loads the GPU stack.
await build({
  ...common,
  entryPoints: { index: 'src/index.ts', node: 'src/node.ts', 'cli/main': 'src/cli/main.ts' },
  outdir: 'dist',
  splitting: true,
  platform: 'neutral',
  mainFields: ['module', 'main'],
  // Peers for `echoclip bench` are dev-only and loaded on demand: never bundled.
  external: ['webgpu', 'node:*', 'onnxruntime-node', 'onnxruntime-web', 'onnxruntime-web/*', '@tensorflow/*'],
});

// Browser: one file, no Node built-ins.
await build({
  ...common,
  entryPoints: { echoclip: 'src/index.ts' },
  outdir: 'dist/browser',
  platform: 'browser',
  external: ['webgpu'],
});

// The browser demo (web/): page script + worker, both self-contained.
await build({
  ...common,
  entryPoints: { main: 'web/main.ts', worker: 'web/worker.ts' },
  outdir: 'dist/web',
  platform: 'browser',
  external: ['webgpu'],
});
copyFileSync(`${root}web/index.html`, `${root}dist/web/index.html`);
// The demo worker fetches the shipped CLIP vocabulary from /assets/ (serve-demo.mjs serves dist/web only).
cpSync(`${root}assets`, `${root}dist/web/assets`, { recursive: true });

// The PyTorch peer (`echoclip bench --suite gpu`, `echoclip selfcheck`) is found at run time as
// peers/torch_clip.py above the module that runs it: dist/peers/ for the built CLI.
mkdirSync(`${root}dist/peers`, { recursive: true });
for (const f of readdirSync(`${root}bench/peers`).filter((f) => f.endsWith('.py'))) copyFileSync(`${root}bench/peers/${f}`, `${root}dist/peers/${f}`);

execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.json', '--emitDeclarationOnly', '--declaration'], { stdio: 'inherit', cwd: root });
console.error('build: dist/ ready');
