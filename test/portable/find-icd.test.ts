// find-icd.sh (the bundle's Vulkan driver search) over fake icd.d folders.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PORTABLE_SRC, runWith, tempDir } from './helpers.js';

const FIND_ICD = join(PORTABLE_SRC, 'find-icd.sh');

/** An icd.d folder under `root` holding ICD JSONs: file name -> the driver library it names. */
function icdFolder(root: string, rel: string, drivers: Record<string, string>): string {
  const dir = join(root, rel);
  mkdirSync(dir, { recursive: true });
  for (const [name, lib] of Object.entries(drivers)) writeFileSync(join(dir, name), JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.3.0' } }, null, 4));
  return dir;
}

function findIcd(env: Record<string, string>, args: string[] = []) {
  return runWith('bash', [FIND_ICD, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env });
}

describe('find-icd.sh', () => {
  const root = tempDir('icd');
  // Mesa's usual set (software + hardware drivers for other vendors) in /usr/share, NVIDIA's
  // driver where GPU containers mount it.
  const mesa = icdFolder(root, 'usr/share/vulkan/icd.d', {
    'lvp_icd.json': '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so',
    'radeon_icd.json': '/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so',
    'intel_icd.json': '/usr/lib/x86_64-linux-gnu/libvulkan_intel.so',
  });
  const soft = icdFolder(root, 'soft/icd.d', {
    'vk_swiftshader_icd.json': './libvk_swiftshader.so',
    'lvp_icd.json': 'libvulkan_lvp.so',
  });
  const nvidia = icdFolder(root, 'usr/local/nvidia/share/vulkan/icd.d', { 'nvidia_icd.json': 'libGLX_nvidia.so.0' });
  const empty = icdFolder(root, 'empty/icd.d', {});

  it('prefers the NVIDIA driver mounted under /usr/local/nvidia over Mesa and software drivers', async () => {
    const r = await findIcd({ ECHOCLIP_ICD_ROOTS: [mesa, soft, nvidia].join(':') });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(nvidia, 'nvidia_icd.json'));
    expect(r.stderr).toContain('candidate (rank 90)');
  });

  it('ranks hardware vendors (NVIDIA, AMD, Intel) before lavapipe and SwiftShader', async () => {
    const r = await findIcd({ ECHOCLIP_ICD_ROOTS: [soft, mesa, nvidia].join(':') }, ['--all']);
    const order = r.stdout.trim().split('\n').map((l) => l.split('\t')[1].split('/').pop());
    expect(order.slice(0, 3)).toEqual(['nvidia_icd.json', 'radeon_icd.json', 'intel_icd.json']);
    expect(order.slice(3).sort()).toEqual(['lvp_icd.json', 'lvp_icd.json', 'vk_swiftshader_icd.json']);
  });

  it('takes a software driver when nothing else is there', async () => {
    const r = await findIcd({ ECHOCLIP_ICD_ROOTS: [empty, soft].join(':') });
    // Same rank: the folder's first file in glob order wins (lvp before vk_swiftshader).
    expect(r.stdout.trim()).toBe(join(soft, 'lvp_icd.json'));
  });

  it('ECHOCLIP_ICD wins over the search; VK_DRIVER_FILES set by the caller is honoured', async () => {
    const pick = join(soft, 'vk_swiftshader_icd.json');
    const r = await findIcd({ ECHOCLIP_ICD_ROOTS: [nvidia].join(':'), ECHOCLIP_ICD: pick, VK_DRIVER_FILES: '/elsewhere.json' });
    expect(r.stdout.trim()).toBe(pick);
    const preset = await findIcd({ ECHOCLIP_ICD_ROOTS: [nvidia].join(':'), VK_DRIVER_FILES: join(mesa, 'intel_icd.json') });
    expect(preset.stdout.trim()).toBe(join(mesa, 'intel_icd.json'));
  });

  it('fails loudly when ECHOCLIP_ICD names a file that does not exist', async () => {
    const r = await findIcd({ ECHOCLIP_ICD: join(root, 'nope.json') });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no such file');
  });

  it('prints nothing (and says so) when no folder has a driver', async () => {
    const r = await findIcd({ ECHOCLIP_ICD_ROOTS: [empty, join(root, 'missing')].join(':') });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no Vulkan ICD JSON found');
  });

  it('searches /usr/local/nvidia/share/vulkan/icd.d by default', async () => {
    // The real default roots: whatever this machine has, the NVIDIA container path is among them.
    const r = await runWith('bash', ['-c', `. <(sed -n '/^default_roots()/,/^}/p' ${JSON.stringify(FIND_ICD)}); default_roots`], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['/etc/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']));
  });
});
