import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cliZeroShot, expectSameZeroShot, SHARED_DIR, type ZeroShotJson } from './zero-shot-compare.js';

const root = resolve(import.meta.dirname, '../..');
const deno = resolve(root, 'node_modules/.bin/deno');

describe('Deno', () => {
  it('runs the matmul known-answer test through the public API (dist/)', async () => {
    const { stdout } = await promisify(execFile)(deno, ['run', '-A', '--no-prompt', 'test/platform/deno-smoke.ts'], {
      cwd: root,
      timeout: 120_000,
      env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/share/vulkan/icd.d/lvp_icd.json', DENO_NO_UPDATE_CHECK: '1' },
    });
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result.runtime).toBe('deno');
    expect(result.cases.length).toBeGreaterThanOrEqual(8);
    expect(result.cases.filter((c: { pass: boolean }) => !c.pass)).toEqual([]);
    expect(result.pass).toBe(true);
  });

  it('runs the one-line API (EchoClip.fromPretrained → zeroShot on a video path) with the CLI\'s results', async () => {
    const { stdout } = await promisify(execFile)(deno, ['run', '-A', '--no-prompt', 'test/platform/deno-api.ts', `${SHARED_DIR}/fixtures/echoclip_tiny`, `${SHARED_DIR}/samples/example_video.avi`, `${SHARED_DIR}/samples/prompts_used.json`], {
      cwd: root,
      timeout: 300_000,
      maxBuffer: 16 << 20,
      env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/share/vulkan/icd.d/lvp_icd.json', DENO_NO_UPDATE_CHECK: '1' },
    });
    const got = JSON.parse(stdout.trim().split('\n').pop()!) as { runtime: string; vocab: string; results: ZeroShotJson };
    expect([got.runtime, got.vocab]).toEqual(['deno', 'shipped']);
    expectSameZeroShot(got.results, await cliZeroShot());
  }, 400_000);
});
