import { UsageError } from '../errors.js';

/** Parsed `--flag value` / `--flag=value` / `--switch` arguments plus positionals. */
export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

/**
 * Parses argv strictly: only flags named in `spec` are accepted; `spec[name]` says whether the
 * flag takes a value. Unknown flags are a UsageError (a typo must not be silently ignored).
 */
export function parseArgs(argv: readonly string[], spec: Record<string, 'value' | 'switch'>, command: string): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positionals.push(a); continue; }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const kind = spec[name];
    if (!kind) throw new UsageError(`echoclip ${command}`, `unknown option --${name}`, { hint: `see 'echoclip ${command} --help'` });
    if (kind === 'switch') {
      if (eq >= 0) throw new UsageError(`echoclip ${command}`, `--${name} takes no value`);
      flags.set(name, true);
    } else {
      let v: string | undefined;
      if (eq >= 0) v = a.slice(eq + 1);
      else { v = argv[i + 1]; i++; }
      if (v === undefined) throw new UsageError(`echoclip ${command}`, `--${name} needs a value`);
      flags.set(name, v);
    }
  }
  return { flags, positionals };
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function requireFlag(args: ParsedArgs, name: string, command: string): string {
  const v = flagString(args, name);
  if (v === undefined) throw new UsageError(`echoclip ${command}`, `--${name} is required`, { hint: `see 'echoclip ${command} --help'` });
  return v;
}

export function flagInt(args: ParsedArgs, name: string, command: string, fallback: number): number {
  const v = flagString(args, name);
  if (v === undefined) return fallback;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`echoclip ${command}`, `--${name} must be an integer, got '${v}'`);
  return Number(v);
}

export function flagNumber(args: ParsedArgs, name: string, command: string, fallback: number): number {
  const v = flagString(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`echoclip ${command}`, `--${name} must be a number, got '${v}'`);
  return n;
}
