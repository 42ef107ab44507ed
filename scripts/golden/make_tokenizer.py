#!/usr/bin/env python3
"""Developer tool: trains a small byte-level BPE tokenizer shaped like the Nemotron-H one
(Tekken-style Split regex + ByteLevel, low control ids, <s> added by the post-processor) and
records Hugging Face `tokenizers` outputs for many strings as golden data.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install tokenizers jinja2
    /tmp/v/bin/python scripts/golden/make_tokenizer.py tests/data/tokenizer

Writes OUT/tokenizer.json and OUT/golden.jsonl. Each golden line:
    {"hex": input bytes, "ids": ids of encode(text) (post-processor on),
     "dec": hex of decode(ids, skip_special_tokens=False) as UTF-8,
     "nosp": ids with special tokens not parsed (only when they differ),
     "im": ids with ignore_merges=true (only when they differ)}
Input bytes that are not valid UTF-8 reach HF as bytes.decode("utf-8", "replace"), which is
what the C tokenizer is specified to do. Tests never run this; they read the committed output.
"""
import glob
import json
import os
import random
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
          r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|"
          r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
            "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "<|im_start|>", "<|im_end|>",
            "<think>", "</think>", "<SPECIAL_14>", "<SPECIAL_15>"]

MULTI = [
    "The quick brown fox jumps over the lazy dog.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
    "Portez ce vieux whisky au juge blond qui fume. L'été où Noël était là.",
    "天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。我们今天去公园散步吧。",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ。カタカナもテスト。",
    "다람쥐 헌 쳇바퀴에 타고파. 한국어 문장입니다.",
    "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق.",
    "काचं शक्नोम्यत्तुम् । नोपहिनस्ति माम् ॥ हिन्दी में एक वाक्य।",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Γειά σου Κόσμε!",
    "דג סקרן שט בים מאוכזב ולפתע מצא חברה.",
    "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "Pchnąć w tę łódź jeża lub ośm skrzyń fig. Příliš žluťoučký kůň.",
    "Árvíztűrő tükörfúrógép. Þetta er íslenska. Ærø ØRESUND.",
    "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ",
    "Tiếng Việt có dấu: Những con chó lười biếng.",
    "ǅemal ǈubljana ǋegoš — titlecase digraphs; ʰʲ modifier letters ˢ.",
]

EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇫🇷", "🧑🏿‍💻", "✌️", "1️⃣", "🤷‍♀️", "👩‍❤️‍💋‍👨", "🙂🙃",
         "☕", "🐍", "∑", "∞", "≠", "→", "✓", "©", "™", "€", "£", "¥", "₹"]

WS = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \t ", "\u00a0",
      "\u3000", "\u2003", "\u2028", "\u0085", "\x0b", "\x0c", "\u200b", "\u202f", "\x1c"]


def read_corpus():
    paths = sorted(glob.glob("/usr/share/common-licenses/*"))
    paths += sorted(glob.glob("/usr/share/doc/*/copyright"))[:200]
    paths += sorted(glob.glob("/usr/include/*.h"))[:60]
    texts = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                texts.append(f.read())
        except (OSError, UnicodeDecodeError):
            pass
    texts += MULTI * 20
    return texts


def build(corpus):
    tok = Tokenizer(models.BPE(unk_token="<unk>", ignore_merges=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(TEKKEN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4000, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    # Non-special added tokens exercising lstrip / rstrip / normalized.
    tok.add_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False),
                    AddedToken("[[sep]]", lstrip=False, rstrip=True, normalized=True),
                    AddedToken("reel_token", normalized=True)])
    tok.add_special_tokens([AddedToken("<|tool|>", lstrip=True, rstrip=True, special=True)])
    return tok


def samples(corpus, rnd):
    out = []
    specials = SPECIALS + ["<mask>", "[[sep]]", "reel_token", "<|tool|>"]
    for s in MULTI:
        out += [s, " " + s, s + " ", s.upper(), s.lower()]
    for e in EMOJI:
        out += [e, "a" + e + "b", e * 3, " " + e + " ok"]
    for w in WS:
        out += [w, "a" + w + "b", w + "x", "x" + w, "1" + w + "2", "!" + w + "?"]
    lines = [l for t in corpus[:-len(MULTI) * 20] for l in t.split("\n") if l.strip()]
    rnd.shuffle(lines)
    out += lines[:700]
    for t in corpus[:40]:  # multi-line chunks with their newlines and indentation
        i = rnd.randrange(max(1, len(t) - 400))
        out.append(t[i:i + rnd.randrange(20, 400)])
    for n in ["0", "7", "42", "123", "1234", "12345678901234567890", "3.14159", "1,000,000",
              "2026-11-26", "0x1F", "١٢٣", "४२", "½", "²", "Ⅻ", "①"]:
        out += [n, "x" + n, n + "abc", " " + n + " "]
    code = ["int main(void) {\n\treturn 0;\n}\n", "def f(x):\n    return x**2  # square\n",
            "for (i = 0; i < n; i++) a[i] += b[i];", "<div class=\"x\">Hello</div>",
            "SELECT * FROM t WHERE id = 42;", "path/to/file.txt", "http://example.com/a?b=c&d=e",
            "x == y && y != z || !w", "    indented\n        more\n", "a\r\nb\r\n\r\nc",
            "'s 't 're 've 'm 'll 'd", "I'm can't won't y'all", "CamelCaseWordsHTTPServer",
            "snake_case_name", "ALLCAPS lowercase MiXeD", "e.g. i.e. etc...", "—–-", "“quoted” ‘x’",
            "a/b/c\n/d\n", "//\n", "?!?!\n\n", "....\r\n\r\n", "{\"k\": [1, 2, 3]}"]
    out += code
    for sp in specials:
        out += [sp, "x" + sp + "y", " " + sp + " ", "a  " + sp + "  b", sp + sp, "\n" + sp + "\n",
                sp[:-1], sp + "!"]
    out += ["<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n",
            "<s>[INST] hi [/INST]</s>", "<think></think>answer", "<s><s>", "<<s>>", "<|im_start",
            "a<mask>b", "a   <mask>", "x[[sep]]   y", "xreel_tokeny", "  <|tool|>  z"]
    # random mixes of every kind of piece
    pieces = [w for s in MULTI for w in s.split(" ")] + EMOJI + WS + specials + code[:8] + \
        ["0", "12", "999", "a", "I", "the", "The", "THE", "'s", "ʼ", "é", "e\u0301", "ﬁ", "Å"]
    while len(out) < 2300:
        k = rnd.randrange(1, 12)
        out.append("".join(rnd.choice(pieces) for _ in range(k)))
    return out


BAD_UTF8 = [b"\xff", b"abc\x80def", b"\xe2\x82", b"\xe2\x82a", b"\xf0\x80\x80\x80", b"\xed\xa0\x80",
            b"\xc0\xaf", b"\xf4\x90\x80\x80", b"caf\xe9 cr\xe8me", b"\xf0\x9f\x98", b"ok\xf0\x9f\x98 x",
            b"\xc3", b"\xc3\xc3\xa9", b"\xe0\x80\xaf", b"\xf8\x88\x80\x80\x80", b"\x80\x80 \xbf\n"]


LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")


def bl(prefix, regex):
    return {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True, "use_regex": regex}


def split(pattern, behavior, invert=False):
    return {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert}


# Other pre-tokenizer shapes HF byte-level tokenizers use, over the same vocabulary and merges:
# (name, pre_tokenizer, ignore_merges)
VARIANTS = [
    ("gpt2", bl(True, True), False),
    ("llama3", {"type": "Sequence", "pretokenizers": [split({"Regex": LLAMA3}, "Isolated"),
                                                       bl(False, False)]}, True),
    ("merged_prev", {"type": "Sequence", "pretokenizers": [split({"Regex": r"\s+"}, "MergedWithPrevious"),
                                                            bl(False, False)]}, False),
    ("merged_next", {"type": "Sequence", "pretokenizers": [split({"String": " "}, "MergedWithNext"),
                                                            bl(True, False)]}, False),
    ("contiguous", {"type": "Sequence", "pretokenizers": [split({"Regex": r"\p{L}"}, "Contiguous", True),
                                                           bl(False, True)]}, False),
    ("removed", {"type": "Sequence", "pretokenizers": [split({"Regex": r"\d|\s"}, "Removed"),
                                                        bl(False, False)]}, False),
    ("empty_matches", {"type": "Sequence", "pretokenizers": [split({"Regex": r"x*"}, "Isolated"),
                                                              bl(False, False)]}, False),
]


def write_variants(js, inputs, outdir):
    """OUT/variants.jsonl: per line {"name", "pre_tokenizer", "ignore_merges", "cases": [[hex, ids]]}."""
    with open(os.path.join(outdir, "variants.jsonl"), "w", encoding="utf-8") as f:
        for name, pre, im in VARIANTS:
            d = json.loads(js)
            d["pre_tokenizer"] = pre
            d["model"]["ignore_merges"] = im
            t = Tokenizer.from_str(json.dumps(d))
            cases = [[b.hex(), t.encode(b.decode("utf-8", "replace")).ids] for b in inputs]
            f.write(json.dumps({"name": name, "pre_tokenizer": pre, "ignore_merges": im,
                                "cases": cases}, separators=(",", ":")) + "\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/tokenizer"
    os.makedirs(outdir, exist_ok=True)
    rnd = random.Random(20261126)
    corpus = read_corpus()
    tok = build(corpus)
    js = tok.to_str(pretty=False)
    path = os.path.join(outdir, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(js)
    tok = Tokenizer.from_file(path)
    tok_nosp = Tokenizer.from_file(path)
    tok_nosp.encode_special_tokens = True
    d = json.loads(js)
    d["model"]["ignore_merges"] = True
    tok_im = Tokenizer.from_str(json.dumps(d))
    inputs = [s.encode("utf-8") for s in samples(corpus, rnd)] + BAD_UTF8
    seen = set()
    n = 0
    with open(os.path.join(outdir, "golden.jsonl"), "w", encoding="utf-8") as f:
        for b in inputs:
            if b in seen:
                continue
            seen.add(b)
            text = b.decode("utf-8", "replace")
            ids = tok.encode(text).ids
            rec = {"hex": b.hex(), "ids": ids,
                   "dec": tok.decode(ids, skip_special_tokens=False).encode("utf-8").hex()}
            nosp = tok_nosp.encode(text).ids
            if nosp != ids:
                rec["nosp"] = nosp
            im = tok_im.encode(text).ids
            if im != ids:
                rec["im"] = im
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            n += 1
    vrnd = random.Random(7)
    write_variants(js, vrnd.sample(sorted(seen), 250), outdir)
    print(f"{path}: {len(js)} bytes, vocab {tok.get_vocab_size()}; {n} golden strings")


if __name__ == "__main__":
    main()
