// Shared pieces of the portable-bundle tests: paths, a bash runner, and PATH folders that hold
// only the tools a bare GPU machine would have (no node).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = realpathSync(new URL('../..', import.meta.url).pathname);
export const PORTABLE_SRC = join(ROOT, 'scripts', 'portable');
export const LVP_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';

/** What run.sh and its helpers call; each one missing on this machine is left out. */
export const BASE_TOOLS = ['bash', 'sh', 'env', 'cat', 'cp', 'mkdir', 'rm', 'ls', 'mktemp', 'tee', 'sed', 'grep', 'head', 'tr', 'cut', 'sort', 'wc', 'find', 'dirname', 'basename', 'readlink', 'chmod', 'uname', 'getconf', 'timeout', 'truncate', 'mkfifo', 'sleep', 'date', 'tar', 'xz', 'dpkg', 'dpkg-deb', 'ldconfig'];

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `echoclip-${prefix}-`));
}

/** Absolute path of a command on this machine's PATH (resolved through pyenv-style shims), or null. */
export function which(tool: string): string | null {
  try {
    const found = execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    if (tool === 'python3') return execFileSync(found, ['-c', 'import lzma, sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    return found || null;
  } catch {
    return null;
  }
}

/** A folder of symlinks to exactly `tools` (those this machine has), for use as the whole PATH. */
export function toolDir(tools: readonly string[]): string {
  const dir = join(tempDir('tools'), 'bin');
  mkdirSync(dir);
  for (const t of tools) {
    const p = which(t) ?? ['/sbin', '/usr/sbin'].map((d) => `${d}/${t}`).find((c) => which(c));
    if (p) symlinkSync(p, join(dir, t));
  }
  return dir;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command with exactly `env` (nothing inherited), asynchronously so vitest keeps its timers. */
export function runWith(cmd: string, args: readonly string[], env: Record<string, string>, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 300_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

/** `bash -c SCRIPT` with lib.sh sourced, under a minimal env plus `env`. */
export function libSh(script: string, env: Record<string, string> = {}): Promise<Run> {
  return runWith('bash', ['-c', `. ${JSON.stringify(join(PORTABLE_SRC, 'lib.sh'))}; ${script}`], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env });
}

/** The step lines run.sh logs: "== NAME: budget Bs, hard limit Hs: ..." at second T. */
export function loggedSteps(log: string): { step: string; at: number; budget: number; hard: number }[] {
  const out = [];
  for (const m of log.matchAll(/^\[run\.sh +(\d+)s\] == (\w+): budget (\d+)s, hard limit (\d+)s/gm)) out.push({ step: m[2], at: +m[1], budget: +m[3], hard: +m[4] });
  return out;
}
