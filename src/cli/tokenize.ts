// `echoclip tokenize`: token ids for a JSON list of texts, exactly as open_clip.tokenize (bpe)
// or echo_CLIP's template_tokenize (template) give them. See ../shared/docs/cli.md.
import { readFile } from 'node:fs/promises';
import { TokenizerError, UsageError } from '../errors.js';
import { nodePlatform } from '../api/platform-node.js';
import { resolveTokenizer } from '../api/resolve.js';
import { flagString, parseArgs, requireFlag } from './args.js';

const USAGE = `usage: echoclip tokenize --tokenizer bpe|template --input TEXTS.json [--vocab P] [--template-vocab P] [--assets-url URL] [--json]

  --tokenizer bpe        CLIP BPE (EchoCLIP): the vocabulary shipped with the package, or --vocab
                         bpe_simple_vocab_16e6.txt.gz / a directory holding vocab.json + merges.txt
  --tokenizer template   EchoCLIP-R report template tokenizer: --template-vocab template_vocab.txt, or
                         echo_CLIP's file downloaded once (pinned commit, sha256-checked, cached);
                         --assets-url or $ECHOCLIP_ASSETS_BASE_URL names a mirror
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
  const args = parseArgs(argv, { tokenizer: 'value', input: 'value', vocab: 'value', 'template-vocab': 'value', 'assets-url': 'value', json: 'switch' }, 'tokenize');
  if (args.positionals.length > 0) throw new UsageError('echoclip tokenize', `unexpected argument '${args.positionals[0]}'`, { hint: "see 'echoclip tokenize --help'" });
  const kind = requireFlag(args, 'tokenizer', 'tokenize');
  if (kind !== 'bpe' && kind !== 'template') throw new UsageError('echoclip tokenize', `--tokenizer must be 'bpe' or 'template', got '${kind}'`);
  const inputPath = requireFlag(args, 'input', 'tokenize');

  const texts = await readTexts(inputPath);
  // The same lookup as the model commands: the flag, else the shipped / pinned-download default.
  const { tokenizer } = await resolveTokenizer(nodePlatform(), kind, { vocab: flagString(args, 'vocab'), templateVocab: flagString(args, 'template-vocab') }, { assetsBaseUrl: flagString(args, 'assets-url') });

  const rows: Row[] = texts.map((text, i) => {
    if (typeof text !== 'string') return { error: `entry ${i} is ${text === null ? 'null' : Array.isArray(text) ? 'an array' : typeof text}, not a string` };
    try {
      return Array.from(tokenizer.tokenize([text])[0]);
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
