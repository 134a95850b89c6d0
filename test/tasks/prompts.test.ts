import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { collectPrompts, expandRegressionPrompts, gatherRows, parsePromptSets, selectTasks } from '../../src/tasks/index.js';
import { sharedPath } from '../video/fixtures.js';

const json = readFileSync(sharedPath('samples', 'prompts_used.json'), 'utf8');

describe('prompts_used.json', () => {
  const tasks = parsePromptSets(json);

  it('has the 16 tasks: 2 regression, 7 binary, 7 categorical', () => {
    expect(tasks).toHaveLength(16);
    const count = (m: string): number => tasks.filter((t) => t.mode === m).length;
    expect([count('regression'), count('binary'), count('categorical')]).toEqual([2, 7, 7]);
  });

  it('expands EF exactly like zero_shot_example.py: 2 templates x 0..100, template-major', () => {
    const ef = tasks.find((t) => t.name === 'ejection_fraction')!;
    expect(ef.prompts).toHaveLength(202);
    expect(ef.values).toEqual([...Array.from({ length: 101 }, (_, i) => i), ...Array.from({ length: 101 }, (_, i) => i)]);
    expect(ef.prompts[0]).toBe('THE LEFT VENTRICULAR EJECTION FRACTION IS ESTIMATED TO BE 0% ');
    expect(ef.prompts[157]).toBe('LV EJECTION FRACTION IS 56%. ');
    const pap = tasks.find((t) => t.name === 'pulmonary_artery_pressure_continuous')!;
    expect(pap.prompts).toHaveLength(303);
  });

  it('embeds the testers for impella (its label_sources hold the <#> placeholder)', () => {
    const impella = tasks.find((t) => t.name === 'impella')!;
    expect(impella.source).toBe('testers');
    expect(impella.prompts).toHaveLength(4);
    expect(impella.prompts[0]).toContain('4.0CM');
    expect(impella.prompts.some((p) => p.includes('<#>'))).toBe(false);
  });

  it('categorical tasks carry one value per prompt and the class labels', () => {
    const lv = tasks.find((t) => t.name === 'left_ventricle_size')!;
    expect(lv.source).toBe('label_sources');
    expect(lv.prompts).toHaveLength(9);
    expect(lv.values).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3]);
    expect(lv.classLabels).toMatchObject({ 1: 'Mild', 3: 'Severe' });
    const testers = parsePromptSets(json, { preferTesters: true }).find((t) => t.name === 'left_ventricle_size')!;
    expect(testers.prompts).toHaveLength(3);
    expect(testers.values).toEqual([1, 2, 3]);
    const pe = tasks.find((t) => t.name === 'pericardial_effusion')!;
    expect(pe.prompts).toHaveLength(10);
    expect(pe.values).toEqual([1, 1, 1, 2, 2, 3, 3, 4, 4, 4]);
  });

  it('collects distinct texts once and gathers rows per task', () => {
    const { texts, rows } = collectPrompts(tasks);
    const total = tasks.reduce((s, t) => s + t.prompts.length, 0);
    expect(texts.length).toBeLessThan(total); // "EARLY TAMPONADE" twice, LV size testers etc.
    expect(new Set(texts).size).toBe(texts.length);
    for (const t of tasks) expect(Array.from(rows.get(t.name)!, (r) => texts[r])).toEqual(t.prompts);
    const emb = { data: Float32Array.from({ length: texts.length * 2 }, (_, i) => i), shape: [texts.length, 2] };
    const pe = gatherRows(emb, rows.get('pericardial_effusion')!);
    expect(pe.shape).toEqual([10, 2]);
    expect(pe.data.subarray(2, 4)).toEqual(pe.data.subarray(14, 16)); // prompt 1 == prompt 7
  });

  it('selects tasks by name or all', () => {
    expect(selectTasks(tasks, 'all')).toHaveLength(16);
    expect(selectTasks(tasks, 'pacemaker,tavr').map((t) => t.name)).toEqual(['pacemaker', 'tavr']);
    expect(() => selectTasks(tasks, 'nonsense')).toThrow(/known tasks/);
  });

  it('rejects malformed prompt sets with a config error', () => {
    for (const bad of ['{', '[]', '{}', '{"a": {"mode": "x", "label_sources": ["s"]}}', '{"a": {"mode": "binary", "label_sources": []}}',
      '{"a": {"mode": "regression", "label_sources": ["no placeholder"], "range": [0, 3]}}',
      '{"a": {"mode": "categorical", "label_sources": ["x", "y"], "values": [1]}}',
      '{"a": {"mode": "binary", "label_sources": ["<#> only"]}}']) {
      expect(() => parsePromptSets(bad)).toThrow(ConfigError);
    }
  });

  it('expandRegressionPrompts replaces every placeholder', () => {
    expect(expandRegressionPrompts(['A <#> B <#>'], 1, 2)).toEqual({ prompts: ['A 1 B 1', 'A 2 B 2'], values: [1, 2] });
  });
});

describe('loadPromptSetsFile', () => {
  it('reads the file and names it in errors', async () => {
    const { loadPromptSetsFile } = await import('../../src/tasks/prompts-node.js');
    expect(await loadPromptSetsFile(sharedPath('samples', 'prompts_used.json'))).toHaveLength(16);
    await expect(loadPromptSetsFile('/nonexistent/prompts.json')).rejects.toThrow(/\/nonexistent\/prompts\.json: cannot read the prompt set \(ENOENT\)/);
    await expect(loadPromptSetsFile(sharedPath('samples', 'example_report.txt'))).rejects.toThrow(/example_report\.txt: not valid JSON/);
  });
});
