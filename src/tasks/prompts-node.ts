// Node-only: read a prompt-set file (prompts_used.json) from disk.

import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { type PromptSetOptions, type PromptTask, parsePromptSets } from './prompts.js';

export async function loadPromptSetsFile(path: string, options: PromptSetOptions = {}): Promise<PromptTask[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, `cannot read the prompt set (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'pass --prompts PATH to echo_CLIP\'s prompts_used.json', cause: e });
  }
  return parsePromptSets(text, { label: path, ...options });
}
