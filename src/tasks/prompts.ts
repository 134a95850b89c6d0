// The zero-shot prompt sets of echo_CLIP's prompts_used.json (16 tasks: 2 regression, 7 binary,
// 7 categorical), turned into the concrete prompt lists that get embedded.
//
// Which sentences are embedded:
// - regression: every template with `<#>` replaced by str(i) for i in range[0]..range[1], template-major
//   (exactly the reference's EF loop: C = templates x 101 for [0, 100]);
// - binary: label_sources, unless they contain the `<#>` placeholder and `testers` exist (impella),
//   then testers (the concrete "4.0CM" sentence);
// - categorical: label_sources with their `values` (all phrasings of each class); when they contain
//   `<#>`, testers with tester_values. `preferTesters` switches to testers wherever present.

import { ConfigError } from '../errors.js';

export type TaskMode = 'binary' | 'regression' | 'categorical';

export interface PromptTask {
  name: string;
  mode: TaskMode;
  /** The exact texts to embed, in order. */
  prompts: string[];
  /** Value of each prompt (regression and categorical tasks). */
  values?: number[];
  /** Categorical: class value -> label (from value_mapping). */
  classLabels?: Record<string, string>;
  /** Which list of the JSON the prompts came from. */
  source: 'label_sources' | 'testers';
}

export interface PromptSetOptions {
  /** Use `testers` (and tester_values) wherever a task has them. */
  preferTesters?: boolean;
  /** Names the source in errors (a file path); default "prompt set". */
  label?: string;
}

const PLACEHOLDER = '<#>';

const HINT = 'use the prompts_used.json shipped with echo_CLIP, or a file of the same structure';

function bad(why: string, label = 'prompt set'): never {
  throw new ConfigError(label, why, { hint: HINT });
}

function stringList(v: unknown, what: string, label: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string')) bad(`${what} must be a non-empty array of strings`, label);
  return v as string[];
}

function numberList(v: unknown, n: number, what: string, label: string): number[] {
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) bad(`${what} must be an array of ${n} numbers`, label);
  return v as number[];
}

/** `<#>` replaced by str(i) for i = lo..hi, template-major, with the values. */
export function expandRegressionPrompts(templates: readonly string[], lo: number, hi: number, label = 'prompt set'): { prompts: string[]; values: number[] } {
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo || hi - lo > 100_000) bad(`range [${lo}, ${hi}] must be two integers lo <= hi`, label);
  const prompts: string[] = [];
  const values: number[] = [];
  for (const t of templates) {
    if (!t.includes(PLACEHOLDER)) bad(`regression template ${JSON.stringify(t)} has no ${PLACEHOLDER} placeholder`, label);
    for (let i = lo; i <= hi; i++) {
      prompts.push(t.split(PLACEHOLDER).join(String(i)));
      values.push(i);
    }
  }
  return { prompts, values };
}

/** Parses prompts_used.json (text or already-parsed JSON) into embeddable prompt tasks. */
export function parsePromptSets(json: string | unknown, options: PromptSetOptions = {}): PromptTask[] {
  const label = options.label ?? 'prompt set';
  let root: unknown = json;
  if (typeof json === 'string') {
    try {
      root = JSON.parse(json);
    } catch (e) {
      bad(`not valid JSON (${(e as Error).message})`, label);
    }
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) bad('expected a JSON object mapping task names to task definitions', label);
  const tasks: PromptTask[] = [];
  for (const [name, def] of Object.entries(root as Record<string, unknown>)) {
    if (typeof def !== 'object' || def === null) bad(`task ${name} is not an object`, label);
    const d = def as Record<string, unknown>;
    const mode = d.mode;
    if (mode !== 'binary' && mode !== 'regression' && mode !== 'categorical') bad(`task ${name} has mode ${JSON.stringify(mode)} (binary, regression or categorical expected)`, label);
    const sources = stringList(d.label_sources, `${name}.label_sources`, label);
    const testers = d.testers === undefined ? undefined : stringList(d.testers, `${name}.testers`, label);
    const hasPlaceholder = sources.some((s) => s.includes(PLACEHOLDER));
    if (mode === 'regression') {
      const range = numberList(d.range, 2, `${name}.range`, label);
      tasks.push({ name, mode, ...expandRegressionPrompts(sources, range[0]!, range[1]!, label), source: 'label_sources' });
      continue;
    }
    const useTesters = testers !== undefined && (hasPlaceholder || options.preferTesters === true);
    if (hasPlaceholder && !testers) bad(`task ${name} has ${PLACEHOLDER} in label_sources but no testers to embed instead`, label);
    const prompts = useTesters ? testers! : sources;
    if (mode === 'binary') {
      tasks.push({ name, mode, prompts, source: useTesters ? 'testers' : 'label_sources' });
      continue;
    }
    const values = useTesters
      ? numberList(d.tester_values ?? d.values, prompts.length, `${name}.tester_values`, label)
      : numberList(d.values, prompts.length, `${name}.values`, label);
    let classLabels: Record<string, string> | undefined;
    if (d.value_mapping !== undefined) {
      if (typeof d.value_mapping !== 'object' || d.value_mapping === null) bad(`${name}.value_mapping must be an object`, label);
      classLabels = Object.fromEntries(Object.entries(d.value_mapping as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    }
    tasks.push({ name, mode, prompts, values, ...(classLabels ? { classLabels } : {}), source: useTesters ? 'testers' : 'label_sources' });
  }
  if (tasks.length === 0) bad('no tasks defined', label);
  return tasks;
}

/** Picks tasks by name ('all' = every task, in file order); unknown names are a usage error. */
export function selectTasks(tasks: readonly PromptTask[], names: string | readonly string[]): PromptTask[] {
  const list = typeof names === 'string' ? names.split(',').map((s) => s.trim()).filter(Boolean) : [...names];
  if (list.length === 1 && list[0] === 'all') return [...tasks];
  return list.map((n) => {
    const t = tasks.find((x) => x.name === n);
    if (!t) throw new ConfigError(`task ${n}`, 'not in the prompt set', { hint: `known tasks: ${tasks.map((x) => x.name).join(', ')}, or all` });
    return t;
  });
}
