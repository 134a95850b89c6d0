// `echoclip tokenize`: token ids for a JSON list of texts, exactly as open_clip.tokenize (bpe)
// or echo_CLIP's template_tokenize (template) give them. See ../shared/docs/cli.md.
import { readFile } from 'node:fs/promises';
import { TokenizerError, UsageError } from '../errors.js';
import { loadClipBpeTokenizer, loadTemplateTokenizer } from '../tokenizer/load-node.js';
import { flagString, parseArgs, requireFlag } from './args.js';

const USAGE = `usage: echoclip tokenize --tokenizer bpe|template --input TEXTS.json [--vocab P] [--template-vocab P] [--json]

  --tokenizer bpe        CLIP BPE (EchoCLIP); needs --vocab: bpe_simple_vocab_16e6.txt.gz or a
                         directory holding vocab.json + merges.txt
  --tokenizer template   EchoCLIP-R report template tokenizer; needs --template-vocab template_vocab.txt
  --input TEXTS.json     a JSON array of strings
  --json                 stdout is one JSON document {"ids": [[77 ints] | {"error": "..."}, ...]}
                         (without --json: one line per text, ids separated by spaces)
`;

type Row = number[] | { error: string };

export async function tokenizeCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const args = parseArgs(argv, { tokenizer: 'value', input: 'value', vocab: 'value', 'template-vocab': 'value', json: 'switch' }, 'tokenize');
  if (args.positionals.length > 0) throw new UsageError('echoclip tokenize', `unexpected argument '${args.positionals[0]}'`, { hint: "see 'echoclip tokenize --help'" });
  const kind = requireFlag(args, 'tokenizer', 'tokenize');
  if (kind !== 'bpe' && kind !== 'template') throw new UsageError('echoclip tokenize', `--tokenizer must be 'bpe' or 'template', got '${kind}'`);
  const inputPath = requireFlag(args, 'input', 'tokenize');

  // Check every flag before the slow vocabulary load.
  const vocabFlag = kind === 'bpe' ? 'vocab' : 'template-vocab';
  const vocabPath = flagString(args, vocabFlag);
  if (vocabPath === undefined) {
    throw new UsageError('echoclip tokenize', `--${vocabFlag} is required with --tokenizer ${kind} (no vocabulary is bundled)`, {
      hint: kind === 'bpe' ? 'pass --vocab bpe_simple_vocab_16e6.txt.gz or a directory with vocab.json and merges.txt' : 'pass --template-vocab template_vocab.txt',
    });
  }
  const texts = await readTexts(inputPath);
  const tokenizer = kind === 'bpe' ? await loadClipBpeTokenizer(vocabPath) : await loadTemplateTokenizer(vocabPath);

  const rows: Row[] = texts.map((text, i) => {
    if (typeof text !== 'string') return { error: `entry ${i} is ${text === null ? 'null' : Array.isArray(text) ? 'an array' : typeof text}, not a string` };
    try {
      return Array.from(tokenizer.tokenizeOne(text));
    } catch (e) {
      // Texts the reference rejects become error entries; anything else is a bug and propagates.
      if (e instanceof TokenizerError) return { error: e.message };
      throw e;
    }
  });

  if (args.flags.has('json')) {
    process.stdout.write(JSON.stringify({ ids: rows }) + '\n');
  } else {
    process.stdout.write(rows.map((r) => (Array.isArray(r) ? r.join(' ') : `error: ${r.error}`)).join('\n') + (rows.length ? '\n' : ''));
  }
  return 0;
}

async function readTexts(path: string): Promise<unknown[]> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(path, `cannot read --input (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'pass a JSON file holding an array of strings' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new UsageError(path, `--input is not valid JSON (${e instanceof Error ? e.message : String(e)})`, { hint: 'pass a JSON array of strings, e.g. ["LV EJECTION FRACTION IS 55%."]' });
  }
  if (!Array.isArray(parsed)) throw new UsageError(path, `--input must hold a JSON array of strings, found ${parsed === null ? 'null' : typeof parsed}`, { hint: 'wrap the text(s) in [ ]' });
  return parsed;
}
