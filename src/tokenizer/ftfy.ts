// A port of `ftfy.fix_text` (ftfy 6.3.1 source; the reference ran 6.1.1, which gives the same ids
// on every fixture case; default TextFixerConfig) as open_clip's `basic_clean`
// calls it: per line, repeat { unescape_html, fix_encoding (mojibake), fix_c1_controls,
// fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks, fix_surrogates,
// remove_terminal_escapes, remove_control_chars, NFC } until nothing changes.
// ftfy's regexes (mojibake heuristics, byte patterns) and codec tables are generated into
// ftfy-data.ts from ftfy itself; this file holds the control flow.
import { TokenizerError } from '../errors.js';
import { BYTE_TABLES, CHARMAP_ENCODINGS, FTFY_HTML_ENTITIES, FTFY_REGEX, LIGATURES, WIDTH_MAP, WINDOWS_1252_STRICT } from './ftfy-data.js';
import { pythonHtmlUnescape } from './html.js';

const BADNESS_RE = new RegExp(FTFY_REGEX.BADNESS, 'u');

/** ftfy `is_bad`: does the text contain a sequence that looks like mojibake? */
export function isBad(text: string): boolean {
  return BADNESS_RE.test(text);
}

const UTF8_DETECTOR_RE = new RegExp(FTFY_REGEX.UTF8_DETECTOR, 'gu');

// ---------------------------------------------------------------- single-byte codecs
interface Charmap { encode: Map<string, number>; sloppy: boolean }

const CHARMAPS = new Map<string, Charmap>();
for (const name of CHARMAP_ENCODINGS) {
  const decode = BYTE_TABLES[name];
  const sloppy = name.startsWith('sloppy-');
  const encode = new Map<string, number>();
  // ftfy's possible_encoding: ASCII except \x1a, plus what bytes 0x80..0xFF and 0x1A decode to.
  for (let b = 0; b < 0x80; b++) if (b !== 0x1a) encode.set(String.fromCharCode(b), b);
  for (let b = 0x80; b < 0x100; b++) if (!encode.has(decode[b])) encode.set(decode[b], b);
  if (!encode.has(decode[0x1a])) encode.set(decode[0x1a], 0x1a);
  CHARMAPS.set(name, { encode, sloppy });
}

/** `text.encode(encoding)` for one of ftfy's charmap codecs, or null when a character does not fit. */
function encodeCharmap(text: string, map: Charmap): Uint8Array | null {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (const ch of text) {
    const b = map.encode.get(ch);
    if (b === undefined) return null;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

// Bytes as a latin-1 "binary string" so that byte-level regexes can run on them.
const toBin = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};
const fromBin = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Python `bytes.decode('utf-8')`; null where Python raises UnicodeDecodeError. */
function decodeUtf8(bytes: Uint8Array): string | null {
  try { return UTF8_STRICT.decode(bytes); } catch { return null; }
}

/**
 * ftfy's 'utf-8-variants' codec: UTF-8 plus CESU-8 surrogate pairs (ED A0-AF xx ED B0-BF xx)
 * and Java's modified NUL (C0 80). Null where it raises (anything else that is not UTF-8).
 */
function decodeUtf8Variants(bytes: Uint8Array): string | null {
  let out = '';
  let start = 0;
  const flush = (end: number): boolean => {
    if (end <= start) return true;
    const s = decodeUtf8(bytes.subarray(start, end));
    if (s === null) return false;
    out += s;
    return true;
  };
  for (let i = 0; i < bytes.length; i++) {
    // ftfy's NULL_EXPR is b'\xc0(\x80|$)', and a bytes-regex '$' also matches before a final
    // '\n': so a C0 0A ending the input decodes to NUL too, newline included.
    if (bytes[i] === 0xc0 && (bytes[i + 1] === 0x80 || (bytes[i + 1] === 0x0a && i + 2 === bytes.length))) {
      if (!flush(i)) return null;
      out += '\u0000';
      start = i + 2;
      i++;
    } else if (bytes[i] === 0xed && i + 5 < bytes.length && bytes[i + 1] >= 0xa0 && bytes[i + 1] <= 0xaf &&
      bytes[i + 2] >= 0x80 && bytes[i + 2] <= 0xbf && bytes[i + 3] === 0xed && bytes[i + 4] >= 0xb0 &&
      bytes[i + 4] <= 0xbf && bytes[i + 5] >= 0x80 && bytes[i + 5] <= 0xbf) {
      if (!flush(i)) return null;
      const hi = 0xd000 | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      const lo = 0xd000 | ((bytes[i + 4] & 0x3f) << 6) | (bytes[i + 5] & 0x3f);
      out += String.fromCharCode(hi, lo);
      start = i + 6;
      i += 5;
    }
  }
  return flush(bytes.length) ? out : null;
}

// ftfy restore_byte_a0 (an 0xA0 byte that some program turned into a space) and
// replace_lossy_sequences (UTF-8 whose lost bytes the sloppy codecs wrote as 0x1A), on bytes.
const A_GRAVE_WORD_RE = new RegExp(FTFY_REGEX.A_GRAVE_WORD, 'gu');
const ALTERED_UTF8_RE = new RegExp(FTFY_REGEX.ALTERED_UTF8, 'u');
const ALTERED_UTF8_RE_G = new RegExp(FTFY_REGEX.ALTERED_UTF8, 'gu');
const LOSSY_UTF8_RE = new RegExp(FTFY_REGEX.LOSSY_UTF8, 'gu');

function restoreByteA0(bin: string): string {
  return bin.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_RE_G, (m) => m.replaceAll(' ', '\xa0'));
}

const C1_RE = new RegExp(FTFY_REGEX.C1_CONTROL, 'u');
const C1_RE_G = new RegExp(FTFY_REGEX.C1_CONTROL, 'gu');
const SLOPPY_1252 = BYTE_TABLES['sloppy-windows-1252'];
const fixC1Controls = (text: string): string => text.replace(C1_RE_G, (ch) => SLOPPY_1252[ch.charCodeAt(0)]);

// ftfy repeats its fixes until the text stops changing. Every changing round shrinks or
// normalises the text, so this ends, but adversarial input ('&amp;amp;amp;...' nested 50k deep)
// needs one round per level: quadratic time that CPython would grind through for minutes. Past
// MIN_ROUNDS rounds and WORK_BUDGET characters processed, stop with an error instead of stalling.
const MIN_ROUNDS = 1000;
const WORK_BUDGET = 50_000_000;

function untilStable(text: string, step: (t: string) => string, what: string): string {
  let work = 0;
  for (let round = 1; ; round++) {
    const next = step(text);
    if (next === text) return text;
    work += text.length;
    text = next;
    if (round >= MIN_ROUNDS && work > WORK_BUDGET) {
      throw new TokenizerError('ftfy.fix_text', `${what} still changes the text after ${round} rounds over ${text.length} characters (deeply nested escapes or mis-encodings); stopped to bound the time`, { hint: 'unescape or re-encode the text before tokenizing it' });
    }
  }
}

/** One step of ftfy `fix_encoding_and_explain`. */
function fixEncodingOneStep(text: string): string {
  if (text.length === 0 || /^[\x00-\x7f]*$/.test(text) || !isBad(text)) return text;
  const possible: string[] = [];
  for (const name of CHARMAP_ENCODINGS) {
    const map = CHARMAPS.get(name)!;
    const encoded = encodeCharmap(text, map);
    if (encoded === null) continue;
    possible.push(name);
    let bin = toBin(encoded);
    if (name !== 'macroman' && ALTERED_UTF8_RE.test(bin)) bin = restoreByteA0(bin);
    if (map.sloppy) bin = bin.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
    const bytes = fromBin(bin);
    const fixed = bin.includes('\xed') || bin.includes('\xc0') ? decodeUtf8Variants(bytes) : decodeUtf8(bytes);
    if (fixed !== null) return fixed;
  }
  // UTF-8 mojibake embedded in otherwise fine text: fix each run on its own.
  UTF8_DETECTOR_RE.lastIndex = 0;
  if (UTF8_DETECTOR_RE.test(text)) {
    const fixed = text.replace(UTF8_DETECTOR_RE, (sub) => (sub.length < text.length && isBad(sub) ? fixEncoding(sub) : sub));
    if (fixed !== text) return fixed;
  }
  // ftfy checks for 'windows-1252' among the possible encodings, which only lists the sloppy
  // variant, so Latin-1 text with C1 controls always goes on to a strict Windows-1252 decode.
  if (possible.includes('latin-1')) {
    let fixed = '';
    let ok = true;
    for (const ch of text) {
      const d = WINDOWS_1252_STRICT[ch.charCodeAt(0)];
      if (d === '\ufffd') { ok = false; break; }
      fixed += d;
    }
    if (ok && fixed !== text) return fixed;
  }
  if (C1_RE.test(text)) return fixC1Controls(text);
  return text;
}

/** ftfy `fix_encoding`. */
export function fixEncoding(text: string): string {
  return untilStable(text, fixEncodingOneStep, 'fix_encoding');
}

// ---------------------------------------------------------------- the other fixers
const FTFY_ENTITY_RE = new RegExp(FTFY_REGEX.HTML_ENTITY, 'gu');

/** ftfy `unescape_html`: only ';'-terminated references, plus all-caps names such as '&NTILDE;'. */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(FTFY_ENTITY_RE, (m) => {
    const known = FTFY_HTML_ENTITIES.get(m);
    if (known !== undefined) return known;
    if (m.startsWith('&#')) {
      const un = pythonHtmlUnescape(m);
      return un.includes(';') ? m : un; // only a fully consumed reference counts
    }
    return m;
  });
}

/** Escapes characters that are special inside a regex character class ('u' mode). */
const cls = (chars: string): string => chars.replace(/[\\\]\[^-]/g, (c) => '\\' + c);
const LIGATURE_RE = new RegExp(`[${cls([...LIGATURES.keys()].join(''))}]`, 'gu');
const WIDTH_RE = new RegExp(`[${cls([...WIDTH_MAP.keys()].join(''))}]`, 'gu');
const SINGLE_QUOTE_RE = new RegExp(FTFY_REGEX.SINGLE_QUOTE, 'gu');
const DOUBLE_QUOTE_RE = new RegExp(FTFY_REGEX.DOUBLE_QUOTE, 'gu');
const ANSI_RE = new RegExp(FTFY_REGEX.ANSI, 'gu');
const CONTROL_RE = new RegExp(FTFY_REGEX.CONTROL_CHARS, 'gu');
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function fixSegmentOnce(text: string, unescape: boolean): string {
  if (unescape) text = ftfyUnescapeHtml(text);
  text = fixEncoding(text);
  text = fixC1Controls(text);
  text = text.replace(LIGATURE_RE, (ch) => LIGATURES.get(ch)!);
  text = text.replace(WIDTH_RE, (ch) => WIDTH_MAP.get(ch)!);
  text = text.replace(DOUBLE_QUOTE_RE, '"').replace(SINGLE_QUOTE_RE, "'");
  text = text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\x85]/g, '\n');
  // A JS string cannot hold a "surrogate pair as two code points" the way Python's can, so
  // fix_surrogates reduces to replacing lone surrogates.
  text = text.replace(LONE_SURROGATE_RE, '\ufffd');
  text = text.replace(ANSI_RE, '');
  text = text.replace(CONTROL_RE, '');
  return text.normalize('NFC');
}

function fixSegment(text: string, unescape: boolean): string {
  return untilStable(text, (t) => fixSegmentOnce(t, unescape), 'fix_text');
}

// Printable ASCII, tab and newline without '&' or ESC: every ftfy fixer leaves it unchanged.
const PLAIN_ASCII = /^[\t\n\x20-\x25\x27-\x7e]*$/;
const MAX_DECODE_LENGTH = 1_000_000;

/** Index `n` code points after `from` (or the end). */
function advanceCodePoints(s: string, from: number, n: number): number {
  let i = from;
  while (n > 0 && i < s.length) {
    const cu = s.charCodeAt(i);
    i += cu >= 0xd800 && cu <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
    n--;
  }
  return i;
}

/** `ftfy.fix_text(text)` with ftfy's default configuration. */
export function fixText(text: string): string {
  if (PLAIN_ASCII.test(text)) return text;
  let out = '';
  let pos = 0;
  let unescape = true; // unescape_html='auto': off for good once a segment contains '<'
  while (pos < text.length) {
    let brk = text.indexOf('\n', pos) + 1;
    if (brk === 0) brk = text.length;
    brk = Math.min(brk, advanceCodePoints(text, pos, MAX_DECODE_LENGTH));
    const segment = text.slice(pos, brk);
    if (unescape && segment.includes('<')) unescape = false;
    out += fixSegment(segment, unescape);
    pos = brk;
  }
  return out;
}
