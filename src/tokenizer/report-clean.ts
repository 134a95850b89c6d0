// echo_CLIP `utils.clean_text` and `utils.extract_variables`, with Python `re` semantics:
// \d is any Unicode decimal digit, \s is str.isspace(), \b uses Unicode word characters.
import { codePointLength, PY_SPACE, PY_WORD, pyStrip, replaceAllLiteral } from './pytext.js';

const S = `[${PY_SPACE}]`;
const W = `[${PY_WORD}]`;
const BOUNDARY = `(?:(?<=${W})(?!${W})|(?<!${W})(?=${W}))`; // Python's \b
const NUMBER = '(?:\\p{Nd}+\\.?\\p{Nd}*)';
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const REMOVABLES = /\^|CRLF|\u2021/g;
const DIGIT = /^\p{Nd}$/u;
const SQUARE_BRACKETS = /[[\]]/g;
const wholeWord = (w: string): RegExp => new RegExp(`(?<!${W})${escapeRe(w)}(?!${W})`, 'gu');
const SELECT_WAS = wholeWord('WAS');
const SELECT_WERE = wholeWord('WERE');
const SELECT_AND_OR = wholeWord('AND/OR');
const SUBSTRING_REPLACEMENTS: readonly [string, string][] = [
  ['NORMALLY', 'NORMAL'], ['MILDLY', 'MILD'], ['MODERATELY', 'MODERATE'], ['SEVERELY', 'SEVERE'], ['PULMONARY ARTERY', 'PA'],
];
const SLASH_DATES = /\p{Nd}{2}\/\p{Nd}{2}\/\p{Nd}{4}/gu;
const DOT_DATES = /\p{Nd}{2}\.\p{Nd}{2}\.\p{Nd}{4}/gu;
const ICD_CODES = new RegExp(`[A-Z](\\p{Nd}+\\.\\p{Nd}*${BOUNDARY})`, 'gu');
const SPACE_BEFORE_UNIT = new RegExp(`${S}+(MMHG|MM|CM|%)`, 'gu');
const SPACE_PERIOD = new RegExp(`${S}\\.`, 'gu');
// `\s+` -> ' ', skipping the no-op case of a lone ' ' (most matches in a report; 2x faster).
const MULTI_WHITESPACE = new RegExp(`${S}{2,}|[${PY_SPACE.replace(' ', '')}]`, 'gu');
const SPACE_PLUS_SPACE = new RegExp(`${S}\\+${S}`, 'gu');
const VERBOSE_PRESSURE = /\+CVPMMHG/g;
const MULTI_PERIOD = /\.+/g;

/** Code point that ends just before index `i` / starts at `i` (undefined at the string's ends). */
function codePointBefore(s: string, i: number): string | undefined {
  if (i <= 0) return undefined;
  const lo = s.charCodeAt(i - 1);
  return i >= 2 && (lo & 0xfc00) === 0xdc00 && (s.charCodeAt(i - 2) & 0xfc00) === 0xd800 ? s.slice(i - 2, i) : s[i - 1];
}
function codePointAt(s: string, i: number): string | undefined {
  const cp = s.codePointAt(i);
  return cp === undefined ? undefined : String.fromCodePoint(cp);
}

/**
 * `re.sub(r"(?<=\D)\.|\.(?=\D)", ". ", t)`: a period with a non-digit on either side (a
 * neighbour must exist) gets a space. A scan, because V8's Unicode lookbehind is slow here.
 */
function spaceInTextPeriods(t: string): string {
  let out = '';
  let from = 0;
  for (let i = t.indexOf('.'); i >= 0; i = t.indexOf('.', i + 1)) {
    const before = codePointBefore(t, i);
    const after = codePointAt(t, i + 1);
    if ((before !== undefined && !DIGIT.test(before)) || (after !== undefined && !DIGIT.test(after))) {
      out += t.slice(from, i) + '. ';
      from = i + 1;
    }
  }
  return from === 0 ? t : out + t.slice(from);
}

/** Phrases that get a period appended when none follows (`<#>` stands for a number). */
const ADD_PERIOD_PHRASES = [
  'THE PEAK TRANSAORTIC GRADIENT IS <#>MMHG',
  'THE MEAN TRANSAORTIC GRADIENT IS <#>MMHG',
  'LV EJECTION FRACTION IS <#>%',
  'ESTIMATED PA PRESSURE IS <#>MMHG',
  'RESTING SEGMENTAL WALL MOTION ANALYSIS',
  'THE IVC DIAMETER IS <#>MM',
  'EST RV/RA PRESSURE GRADIENT IS <#>MMHG',
  'ESTIMATED PEAK RVSP IS <#>MMHG',
  'HEART FAILURE, UNSPECIFIED',
  'CHEST PAIN, UNSPECIFIED',
  'SINUS OF VALSALVA: <#>CM',
  'THE PEAK TRANSMITRAL GRADIENT IS <#>MMHG',
  'THE MEAN TRANSMITRAL GRADIENT IS <#>MMHG',
  'ASCENDING AORTA <#>CM',
  'ESTIMATED PA SYSTOLIC PRESSURE IS <#>MMHG',
  'ICD_CODE SHORTNESS BREATH',
  'ICD_CODE ABNORMAL ELECTROCARDIOGRAM ECG EKG',
  'SHORTNESS BREATH',
  'ABNORMAL ELECTROCARDIOGRAM ECG EKG',
  'THE LEFT ATRIAL APPENDAGE IS NORMAL IN APPEARANCE WITH NO EVIDENCE OF THROMBUS',
];
const ADD_PERIOD = new RegExp(
  '(' + ADD_PERIOD_PHRASES.map((p) => `(?:${p.split('<#>').map(escapeRe).join(NUMBER)})(?!\\.)`).join('|') + ')',
  'gu',
);

/** echo_CLIP `clean_text(text)`. */
export function cleanReportText(text: string): string {
  if (codePointLength(text) <= 1) return text;
  let t = pyStrip(text.toUpperCase());
  t = t.replaceAll('`', "'");
  t = t.replace(REMOVABLES, '');
  t = spaceInTextPeriods(t);
  t = t.replace(SQUARE_BRACKETS, '');
  t = t.replace(SELECT_WAS, 'IS');
  t = t.replace(SELECT_WERE, 'ARE');
  t = t.replace(SELECT_AND_OR, 'AND');
  for (const [from, to] of SUBSTRING_REPLACEMENTS) t = replaceAllLiteral(t, from, to);
  t = t.replace(SLASH_DATES, '');
  t = t.replace(DOT_DATES, '');
  t = t.replace(ICD_CODES, '');
  t = t.replace(SPACE_BEFORE_UNIT, '$1');
  t = t.replace(SPACE_PERIOD, '.');
  t = t.replace(MULTI_WHITESPACE, ' ');
  t = t.replace(SPACE_PLUS_SPACE, '+');
  t = t.replace(VERBOSE_PRESSURE, 'MMHG');
  t = pyStrip(t) + ' ';
  t = t.replace(ADD_PERIOD, '$1.');
  return t.replace(MULTI_PERIOD, '.');
}

const SEVERITY = '(?<![A-Za-z])(?:MODERATE/SEVERE|MILD/MODERATE|MILD|MODERATE|SEVERE|VERY SEVERE)';
const SELECT_VARIABLE = new RegExp(`(\\p{Nd}+\\.?\\p{Nd}*)|(${SEVERITY})`, 'gu');

/** echo_CLIP `extract_variables(text)`: numbers and severity words, each replaced by `<#>`. */
export function extractVariables(text: string): { variables: string[]; text: string } {
  const variables: string[] = [];
  const replaced = text.replace(SELECT_VARIABLE, (_m, num: string | undefined, sev: string | undefined) => {
    variables.push(num ?? sev ?? '');
    return '<#>';
  });
  return { variables, text: replaced };
}
