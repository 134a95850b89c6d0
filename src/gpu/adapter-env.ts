// Which Vulkan driver (ICD) Dawn should load, chosen by name. Node only: browsers and Deno pick
// their own adapter. The loader reads VK_ICD_FILENAMES once, when Dawn creates its instance, so
// this must run before the first `create()` in the process.

/** Known software Vulkan drivers on Debian (installed by scripts/setup-machine.sh). */
export const SOFTWARE_ICDS: Record<string, string> = {
  lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
};

export const SETUP_HINT = "run 'sudo bash scripts/setup-machine.sh' (installs Mesa >= 25 lavapipe and chromium's SwiftShader), or pick a driver with ECHOCLIP_ADAPTER=lavapipe|swiftshader";

/**
 * Resolves an adapter hint ('auto', 'lavapipe', 'swiftshader', or a path to an ICD .json) to the
 * ICD file to export, or undefined to leave the loader's choice (real GPUs).
 */
export function icdForHint(hint: string | undefined): string | undefined {
  if (!hint || hint === 'auto') return undefined;
  if (hint in SOFTWARE_ICDS) return SOFTWARE_ICDS[hint];
  if (hint.endsWith('.json')) return hint;
  return undefined;
}
