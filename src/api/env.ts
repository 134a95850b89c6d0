// Runtime facts the API needs without importing any platform module.
import type { Runtime } from '../gpu/device.js';

export function runtime(): Runtime {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno !== undefined) return 'deno';
  if (g.process?.versions?.node) return 'node-dawn';
  return 'browser';
}

/** An environment variable in Node or Deno; undefined in browsers (and Deno without --allow-env). */
export function envVar(name: string): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env?: { get(n: string): string | undefined } } };
  try {
    return g.process?.env?.[name] ?? g.Deno?.env?.get(name);
  } catch {
    return undefined;
  }
}
