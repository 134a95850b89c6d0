#!/usr/bin/env node
// node scripts/selfcheck-pack.mjs --fixtures DIR --out DIR [--archive PACK.tar.xz]
//
// Writes the small fixture pack `echoclip selfcheck --fixtures` reads on the GPU machine: the same
// file names and format as ../shared/fixtures, holding only what src/selfcheck/fixture-spec.json
// lists (inputs, final outputs, the losses and a gradient per op family), plus the two tiny
// models' weights and the tolerances of the kept tensors. Needs dist/ (node scripts/build.mjs).
// --archive also keeps the tar.xz it measures (the portable bundle ships that file as it is).
//
// Weight reduction: every row of token_embedding.weight whose id occurs in NO kept input
// (input.text_tokens of the forward and fine-tune files using that model) is set to zero, so the
// 49408-row table (12.6 MB of the 17 MB per model) compresses to almost nothing. This cannot change
// a checked number: the forward reads only the rows of the ids it embeds; in the training step
// those rows get exactly zero gradient and the checked losses/gradients read only embedded rows
// (AdamW's decay of the other rows is never read back); the token-embedding gradient check
// compares gradient values, which for unused rows are zero whatever the weights are.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from '../dist/index.js';
import spec from '../src/selfcheck/fixture-spec.json' with { type: 'json' };

function parse(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(fixtures|out|archive)(?:=(.*))?$/.exec(argv[i]);
    if (!m) fail(`unknown argument '${argv[i]}'`);
    out[m[1]] = m[2] ?? argv[++i];
  }
  if (!out.fixtures || !out.out) fail('--fixtures DIR and --out DIR are required');
  return out;
}

function fail(msg) {
  process.stderr.write(`error: selfcheck-pack: ${msg}\nusage: node scripts/selfcheck-pack.mjs --fixtures DIR --out DIR [--archive PACK.tar.xz]\n`);
  process.exit(2);
}

async function open(file) {
  return io.parseSafetensors(new Uint8Array(readFileSync(file)), file);
}

/** Copies the named tensors (and the metadata) of a safetensors file. */
async function subset(src, dst, names) {
  const f = await open(src);
  const list = [];
  for (const n of names) {
    if (!f.get(n)) fail(`${src} has no tensor '${n}'`);
    list.push([n, await f.read(n)]);
  }
  writeFileSync(dst, io.serializeSafetensors(list, { ...f.metadata }));
  return Object.fromEntries(list);
}

const args = parse(process.argv.slice(2));
const FX = path.resolve(args.fixtures), OUT = path.resolve(args.out);
mkdirSync(OUT, { recursive: true });
const kept = []; // "file:tensor" keys, for tolerances.json
const usedIds = new Map(); // model dir -> Set of token ids its checked inputs embed
const useIds = (model, ids) => {
  if (!usedIds.has(model)) usedIds.set(model, new Set());
  for (const v of ids.data) usedIds.get(model).add(v);
};

for (const [file, model] of Object.entries(spec.forward)) {
  const t = await subset(path.join(FX, file), path.join(OUT, file), spec.forwardTensors);
  spec.forwardTensors.filter((n) => !n.startsWith('input.')).forEach((n) => kept.push(`${file}:${n}`));
  useIds(model, t['input.text_tokens']);
}
{
  const { file, weights } = spec.finetune;
  const sparse = `grad.${spec.sparseGrad}`;
  const names = [...spec.finetuneTensors, ...spec.finetuneGrads.map((p) => `grad.${p}`), `${sparse}.sparse_rows`, `${sparse}.sparse_values`];
  const t = await subset(path.join(FX, file), path.join(OUT, file), names);
  [...spec.finetuneTensors.filter((n) => !n.startsWith('input.')), ...spec.finetuneGrads.map((p) => `grad.${p}`), sparse].forEach((n) => kept.push(`${file}:${n}`));
  useIds(weights, t['input.text_tokens']);
}

let zeroedRows = 0;
for (const [model, ids] of usedIds) {
  mkdirSync(path.join(OUT, model), { recursive: true });
  writeFileSync(path.join(OUT, model, 'open_clip_config.json'), readFileSync(path.join(FX, model, 'open_clip_config.json')));
  const w = await open(path.join(FX, model, 'open_clip_model.safetensors'));
  const list = [];
  for (const info of w.tensors) {
    const t = await w.read(info.name);
    if (info.name === 'token_embedding.weight') {
      const [V, D] = t.shape;
      const data = new Float32Array(t.data);
      for (let r = 0; r < V; r++) if (!ids.has(r)) { data.fill(0, r * D, (r + 1) * D); zeroedRows++; }
      list.push([info.name, { ...t, data }]);
    } else list.push([info.name, t]);
  }
  writeFileSync(path.join(OUT, model, 'open_clip_model.safetensors'), io.serializeSafetensors(list, { ...w.metadata }));
}

// Tolerances of the kept goldens only (inputs have none) (each has its own entry in the fixtures' tolerances.json).
const tol = JSON.parse(readFileSync(path.join(FX, 'tolerances.json'), 'utf8'));
const tensors = {};
for (const k of kept) {
  if (!tol.tensors?.[k]) fail(`tolerances.json has no entry for ${k}`);
  tensors[k] = tol.tensors[k];
}
writeFileSync(path.join(OUT, 'tolerances.json'), JSON.stringify({ rule: tol.rule, measured_on: tol.measured_on, groups: {}, tensors }, null, 1) + '\n');

const files = [];
const walk = (d) => readdirSync(d).forEach((n) => (statSync(path.join(d, n)).isDirectory() ? walk(path.join(d, n)) : files.push(path.join(d, n))));
walk(OUT);
const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
// The tar.xz the bundle ships (xz -9, root-owned entries): kept with --archive, else only measured.
const archive = args.archive ? path.resolve(args.archive) : path.join(mkdtempSync(path.join(tmpdir(), 'echoclip-pack-xz-')), 'pack.tar.xz');
let xz = null;
try {
  execFileSync('tar', ['-cJf', archive, '--owner=0', '--group=0', '-C', OUT, '.'], { env: { ...process.env, XZ_OPT: '-9' }, stdio: ['ignore', 'ignore', 'inherit'] });
  xz = statSync(archive).size;
} catch (e) {
  if (args.archive) fail(`writing ${archive} failed (${String(e.message ?? e).split('\n')[0]})`);
  // no tar/xz here: only the raw size is reported
} finally {
  if (!args.archive) rmSync(path.dirname(archive), { recursive: true, force: true });
}
process.stderr.write(`selfcheck-pack: ${files.length} files, ${(bytes / 2 ** 20).toFixed(2)} MiB raw${xz ? `, ${(Number(xz) / 2 ** 20).toFixed(2)} MiB as tar.xz (xz -9)` : ''}; ${zeroedRows} unused token-embedding rows zeroed -> ${OUT}\n`);
process.stdout.write(JSON.stringify({ out: OUT, files: files.length, bytes, xzBytes: xz, zeroedRows }) + '\n');
