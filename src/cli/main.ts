import { EchoClipError } from '../errors.js';

/** A subcommand: gets its own argv (after the command name); returns the exit code. */
export type Command = (argv: string[]) => Promise<number>;

// Lazy imports: `echoclip tokenize` must not load the GPU stack, and vice versa.
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  tokenize: { summary: 'token ids for texts (CLIP BPE or EchoCLIP-R template)', load: async () => (await import('./tokenize.js')).tokenizeCommand },
  convert: { summary: 'convert open_clip_pytorch_model.bin to safetensors (f32 or f16)', load: async () => (await import('./convert.js')).convertCommand },
  embed: { summary: 'image/text features and embeddings (safetensors)', load: async () => (await import('./embed.js')).embedCommand },
  'zero-shot': { summary: 'echo_CLIP zero-shot tasks on a video (EF, binary, categorical)', load: async () => (await import('./zero-shot.js')).zeroShotCommand },
  search: { summary: 'rank report texts for a video (EchoCLIP-R)', load: async () => (await import('./search.js')).searchCommand },
  finetune: { summary: 'fine-tune on (video, report) pairs: contrastive loss, AdamW, resumable checkpoints', load: async () => (await import('./finetune.js')).finetuneCommand },
  index: { summary: 'embed an archive once into an index (sharded, resumable); merge, verify, bench', load: async () => (await import('./index.js')).indexCommand },
  bench: { summary: 'benchmarks (JSON + table)', load: async () => (await import('./bench.js')).benchCommand },
  selfcheck: { summary: 'correctness on this adapter: every kernel variant, tiny models, a training step (exit 0/1/3)', load: async () => (await import('./selfcheck.js')).selfcheckCommand },
  probe: { summary: 'describe the WebGPU adapter and run the known-answer check', load: async () => (await import('./probe.js')).probeCommand },
};

/** Registers a command (used by modules that add commands, keeps main.ts free of edits). */
export function registerCommand(name: string, summary: string, load: () => Promise<Command>): void {
  commands[name] = { summary, load };
}

function usage(): string {
  const lines = ['usage: echoclip <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(11)} ${c.summary}`);
  return lines.join('\n');
}

/** Prints a user error as one line; anything else is a bug and keeps its stack. */
export function reportError(e: unknown): number {
  if (e instanceof EchoClipError) {
    process.stderr.write(`error: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 70;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const c = commands[name];
  if (!c) {
    process.stderr.write(`error: echoclip: unknown command '${name}' (run 'echoclip --help')\n`);
    return 2;
  }
  try {
    const run = await c.load();
    return await run(rest);
  } catch (e) {
    return reportError(e);
  }
}
