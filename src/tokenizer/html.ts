// Python's `html.unescape` (CPython 3.11), exactly: named references with and without ';'
// (longest-prefix rule for the ones without), numeric references with HTML5's replacements.
import { TokenizerError } from '../errors.js';
import { HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINTS } from './html-entities.js';

// CPython: r'&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)'; 'u' so {1,32} counts code points.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// CPython refuses int() of decimal strings longer than this (sys.int_info.default_max_str_digits).
const PY_INT_MAX_STR_DIGITS = 4300;

function numericRef(digits: string, radix: 10 | 16): string {
  if (radix === 10 && digits.length > PY_INT_MAX_STR_DIGITS) {
    throw new TokenizerError('html.unescape', `a numeric character reference has ${digits.length} digits; Python's int() refuses more than ${PY_INT_MAX_STR_DIGITS}, so the reference tokenizer raises ValueError here`, { hint: 'shorten the &#...; reference' });
  }
  const trimmed = digits.replace(/^0+/, '');
  // More than 8 significant digits is above 0x10FFFF in either radix: no need to parse it.
  const num = trimmed.length > 8 ? Number.POSITIVE_INFINITY : trimmed === '' ? 0 : parseInt(trimmed, radix);
  const remapped = INVALID_CHARREFS.get(num);
  if (remapped !== undefined) return remapped;
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  if (INVALID_CODEPOINTS.has(num)) return '';
  return String.fromCodePoint(num);
}

function replaceCharref(_m: string, s: string): string {
  if (s[0] === '#') {
    const body = s.endsWith(';') ? s.slice(1, -1) : s.slice(1);
    return body[0] === 'x' || body[0] === 'X' ? numericRef(body.slice(1), 16) : numericRef(body, 10);
  }
  const whole = HTML5_ENTITIES.get(s);
  if (whole !== undefined) return whole;
  // The longest prefix (at least 2 chars) that is a known name, as the HTML5 standard says.
  for (let x = s.length - 1; x > 1; x--) {
    const v = HTML5_ENTITIES.get(s.slice(0, x));
    if (v !== undefined) return v + s.slice(x);
  }
  return '&' + s;
}

/** CPython `html.unescape(s)`. Throws TokenizerError where CPython raises. */
export function pythonHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF, replaceCharref);
}
