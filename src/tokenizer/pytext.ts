// Python string semantics that the reference tokenizers rely on, for JS strings.
// JS `\s`, `\d`, `\b`, trim() and .length all differ from Python's (`str.isspace`, Unicode Nd
// digits, Unicode word characters, code-point length), so the regexes here spell the classes out.

/** Characters of Python's `str.isspace()` and of stdlib `re`'s `\s` (they are the same set). */
export const PY_SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** `\s` of the third-party `regex` module (open_clip uses it): Unicode White_Space, no \x1c-\x1f. */
export const REGEX_MODULE_SPACE = '\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** Python `re` word characters (`\w`, used by `\b`): str.isalnum() or '_'. Use with the 'u' flag. */
export const PY_WORD = '\\p{L}\\p{N}_';

// str.isspace() as a lookup over UTF-16 units (all of these characters are in the BMP).
const IS_SPACE = new Uint8Array(0x10000);
for (const c of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]) IS_SPACE[c] = 1;
for (let c = 0x2000; c <= 0x200a; c++) IS_SPACE[c] = 1;

/** Python `str.strip()` with no argument (a scan: an anchored `\s+$` regex is quadratic-ish). */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && IS_SPACE[s.charCodeAt(a)] === 1) a++;
  while (b > a && IS_SPACE[s.charCodeAt(b - 1)] === 1) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Python `len(s)`: code points, where a lone surrogate counts as one. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** `s.split(sep).join(rep)` for every occurrence, Python `str.replace` semantics. */
export function replaceAllLiteral(s: string, sep: string, rep: string): string {
  return s.includes(sep) ? s.split(sep).join(rep) : s;
}
