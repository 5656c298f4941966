"""Byte-level BPE tokenizer: training, encoding, and a Hugging Face tokenizer.json.

The tokenizer is the GPT-2 kind: text is split with the GPT-2 regular expression,
each piece is turned into bytes shown as printable characters (the GPT-2 byte
table), and learned merges join adjacent symbols, lowest rank first. The written
tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder) makes any
Hugging Face tokenizer implementation (Rust `tokenizers`, `@huggingface/tokenizers`
in JavaScript) produce the same ids as `Tokenizer.encode` here.

Ids: 0-255 are the single bytes in byte order, then one id per merge, then the
special tokens (SPECIAL_TOKENS, in that order) at the end of the vocabulary.

  /usr/bin/python3 scripts/model/tokenizer.py train --corpus build/model/kjv.txt \
      --vocab-size 2048 --out build/model/tokenizer.json
  /usr/bin/python3 scripts/model/tokenizer.py encode --tokenizer build/model/tokenizer.json \
      < texts.json > ids.json      # JSON list of strings in, JSON list of id lists out

Needs Debian's python3-regex (for \\p{L} and \\p{N}).
"""
import argparse
import json
import sys
from collections import Counter, defaultdict

import regex

# GPT-2's pre-tokenization pattern, identical to the ByteLevel pre-tokenizer's.
PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

EOS = "<|endoftext|>"
SPECIAL_TOKENS = [EOS, "<|system|>", "<|user|>", "<|assistant|>"]

# A chat template in the Hugging Face convention (Jinja). Each message is
# "<|role|>\n" + content + "<|endoftext|>\n"; the generation prompt is "<|assistant|>\n",
# so a model stops by emitting <|endoftext|>, its eos token.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|endoftext|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def render_chat(messages, add_generation_prompt=True):
    """Python rendering of CHAT_TEMPLATE (checked against a Jinja engine by check-onnx.mjs)."""
    text = "".join(f"<|{m['role']}|>\n{m['content']}{EOS}\n" for m in messages)
    return text + ("<|assistant|>\n" if add_generation_prompt else "")


def byte_table():
    """GPT-2's map from each byte to a printable unicode character."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = byte_table()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def to_symbols(piece):
    return "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


def train_bpe(text, n_merges):
    """Learns n_merges merges from text; the most frequent pair wins, ties go to the larger pair."""
    counts = Counter(to_symbols(p) for p in PATTERN.findall(text))
    words = [list(w) for w in counts]
    freqs = list(counts.values())
    pairs = Counter()
    where = defaultdict(set)
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pairs[pair] += freqs[i]
            where[pair].add(i)
    merges = []
    for _ in range(n_merges):
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        for i in sorted(where.pop(best)):
            w, f = words[i], freqs[i]
            for pair in zip(w, w[1:]):
                pairs[pair] -= f
                if pairs[pair] <= 0:
                    del pairs[pair]
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == best:
                    out.append(joined)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for pair in zip(out, out[1:]):
                pairs[pair] += f
                where[pair].add(i)
    return merges


class Tokenizer:
    def __init__(self, merges, special_tokens=SPECIAL_TOKENS):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        vocab = [BYTE_TO_CHAR[b] for b in range(256)] + [a + b for a, b in self.merges]
        self.special = {t: len(vocab) + k for k, t in enumerate(special_tokens)}
        vocab += list(special_tokens)
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        assert len(self.ids) == len(vocab), "duplicate tokens in vocabulary"
        self.special_re = regex.compile("|".join(regex.escape(t) for t in sorted(special_tokens, key=len, reverse=True)))
        self.cache = {}

    @property
    def eos_id(self):
        return self.special[EOS]

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            rank, i = min((self.ranks.get((parts[k], parts[k + 1]), 1 << 30), k) for k in range(len(parts) - 1))
            if rank == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.ids[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        """Ids for text; special token strings in text become their special ids."""
        ids, start = [], 0
        for m in list(self.special_re.finditer(text)) + [None]:
            end = m.start() if m else len(text)
            for piece in PATTERN.findall(text[start:end]):
                ids += self._bpe(to_symbols(piece))
            if m:
                ids.append(self.special[m.group()])
                start = m.end()
        return ids

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            tok = self.vocab[i]
            data += tok.encode("utf-8") if tok in self.special else bytes(CHAR_TO_BYTE[c] for c in tok)
        return data.decode("utf-8", errors="replace")

    def to_hf_json(self):
        """The Hugging Face tokenizer.json document."""
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True}
                for t, i in self.special.items()
            ],
            "normalizer": None,
            "pre_tokenizer": byte_level,
            "post_processor": dict(byte_level, trim_offsets=False),
            "decoder": byte_level,
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": self.ids,
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_hf_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        merges = [m.split(" ") if isinstance(m, str) else m for m in doc["model"]["merges"]]
        specials = [t["content"] for t in sorted(doc["added_tokens"], key=lambda t: t["id"])]
        tok = cls(merges, specials)
        assert tok.ids == doc["model"]["vocab"], "vocabulary does not follow this tokenizer's id layout"
        return tok


def tokenizer_config(model_max_length):
    """tokenizer_config.json for a model using this tokenizer."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "additional_special_tokens": SPECIAL_TOKENS[1:],
        "chat_template": CHAT_TEMPLATE,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--corpus", required=True)
    t.add_argument("--vocab-size", type=int, default=2048)
    t.add_argument("--out", required=True)
    e = sub.add_parser("encode")
    e.add_argument("--tokenizer", required=True)
    args = ap.parse_args()

    if args.cmd == "train":
        with open(args.corpus, encoding="utf-8") as f:
            text = f.read()
        merges = train_bpe(text, args.vocab_size - 256 - len(SPECIAL_TOKENS))
        tok = Tokenizer(merges)
        tok.save(args.out)
        n = len(tok.encode(text))
        print(f"tokenizer: {args.out} vocab {len(tok.vocab)}, corpus {len(text)} chars -> {n} tokens "
              f"({len(text) / n:.2f} chars/token)")
    else:
        tok = Tokenizer.load(args.tokenizer)
        json.dump([tok.encode(s) for s in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
