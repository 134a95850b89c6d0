// The CLI under Deno (its own WebGPU, Node built-ins through Deno's compatibility layer) gives the
// same zero-shot results as under Node on the same adapter.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const shared = resolve(root, '../shared');
const args = [
  'bin/echoclip.js', 'zero-shot', '--weights', `${shared}/fixtures/echoclip_tiny`, '--video', `${shared}/samples/example_video.avi`,
  '--task', 'ejection_fraction,pacemaker,left_ventricle_size', '--prompts', `${shared}/samples/prompts_used.json`,
  '--vocab', `${shared}/vocab/bpe_simple_vocab_16e6.txt.gz`, '--json', '--no-cache',
];

async function run(cmd: string, argv: string[]): Promise<unknown> {
  const { stdout } = await promisify(execFile)(cmd, argv, {
    cwd: root,
    timeout: 180_000,
    env: { ...process.env, VK_ICD_FILENAMES: '/usr/share/vulkan/icd.d/lvp_icd.json', ECHOCLIP_ADAPTER: 'lavapipe', DENO_NO_UPDATE_CHECK: '1', ECHOCLIP_CACHE_DIR: mkdtempSync(join(tmpdir(), 'echoclip-')) },
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('echoclip CLI under Deno', () => {
  it('zero-shot on the tiny fixtures equals the Node run', async () => {
    const viaDeno = await run(resolve(root, 'node_modules/.bin/deno'), ['run', '-A', '--no-prompt', ...args]);
    const viaNode = await run(process.execPath, args);
    expect(Object.keys(viaNode as object)).toEqual(['ejection_fraction', 'pacemaker', 'left_ventricle_size']);
    expect(viaDeno).toEqual(viaNode);
  });
});
