# Regenerates ftfy-cases.json: random mojibake / entity / control-character strings and what the
# real ftfy 6.3.1 `fix_text` returns for them, picked so that every fix path ftfy reports
# (encode/decode per codec, restore_byte_a0, replace_lossy_sequences, decode_inconsistent_utf8,
# fix_c1_controls, unescape_html, ...) appears. Run: python3 test/tokenizer/gen-ftfy-cases.py
import json, os, random
import ftfy
assert ftfy.__version__ == '6.3.1'
random.seed(2026)
words = ['café', 'naïve', 'don’t', '“quoted”', 'Straße', 'ﬁne', 'ＡＢＣ', '😀', 'Ⅻ', '½', 'Ω', 'Привет', '日本語', 'ü',
         'à la', '—', '…', '€5', '™', '•', '\u00a0', 'ಠ_ಠ', 'Ã', 'Â', '©', '¡', '¿', 'ſ', 'İ', 'Σ']
encs = ['latin-1', 'cp1252', 'cp1251', 'cp1250', 'iso-8859-2', 'mac_roman', 'cp437', 'cp1253', 'cp1257', 'cp1254']
bits = ['hello', ' ', 'AT&T', '&amp;', '&amp', '&lt;', '&#x27;', '&#39', '&#128;', '&NTILDE;', '\t', '\n', '\r\n', '\x1b[31m',
        '\x00', '\x1c', '\x85', '\x9d', '<b>', 'x', '\u2028', '\ufeff', '\ud800', '�', '?']
def moj(s):
    enc = random.choice(encs)
    b = s.encode('utf-8', 'surrogatepass')
    try:
        return b.decode(enc)
    except UnicodeDecodeError:
        return b.decode('latin-1')
seen, cases = {}, []
for _ in range(200000):
    parts = [random.choice(bits) if random.random() < 0.35 else moj(random.choice(words) + random.choice(['', ' ', 'x']))
             if random.random() < 0.6 else random.choice(words) for _ in range(random.randint(1, 6))]
    s = ''.join(parts)
    r = ftfy.fix_and_explain(s)
    steps = {f'{a}:{b}' for a, b in (r.explanation or [])}
    rare = [k for k in steps if seen.get(k, 0) < 12]
    if r.text != s and rare:
        for k in steps:
            seen[k] = seen.get(k, 0) + 1
        cases.append([s, ftfy.fix_text(s)])
here = os.path.dirname(os.path.abspath(__file__))
json.dump({'ftfy_version': ftfy.__version__, 'cases': cases}, open(os.path.join(here, 'ftfy-cases.json'), 'w'), ensure_ascii=True, indent=0)
print(len(cases), len(seen))
