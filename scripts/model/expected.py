"""Writes the reference greedy outputs that check-onnx.mjs (and tests) compare against.

For each model it loads the PyTorch weights from the build directory and runs
a plain greedy loop without a cache (the whole sequence again at every step),
for a fixed prompt and for a chat-template prompt, 32 new tokens each, never
stopping early. It records the ids, their text, the SHA-256 of the exported
model.onnx they belong to, and the smallest gap between the best and second
best logit met on the way (how far the choices are from ties).

  /usr/bin/python3 scripts/model/expected.py --build build/model \
      --out test/fixtures/models/expected-greedy.json \
      --model kjv-small:models/kjv-small --model kjv-tiny:models/kjv-tiny \
      --model llama-tiny:test/fixtures/models/llama-tiny

Each --model is NAME:DIR; the weights are BUILD/NAME.pt, the kind is DIR/config.json's model_type.
"""
import argparse
import json
import os

import torch

import llama_tiny
import model as gpt
from export import sha256, write_json
from tokenizer import Tokenizer, render_chat

PROMPT = "And the LORD said unto Moses,"
CHAT = [{"role": "user", "content": "In the beginning God created the heaven and the earth."}]
NEW_TOKENS = 32


@torch.no_grad()
def greedy(model, ids, n):
    ids, margin = list(ids), float("inf")
    for _ in range(n):
        logits, _ = model(torch.tensor([ids]))
        top = torch.topk(logits[0, -1], 2)
        margin = min(margin, (top.values[0] - top.values[1]).item())
        ids.append(int(top.indices[0]))
    return ids[-n:], margin


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("MODEL_BUILD", "build/model"))
    ap.add_argument("--out", default="test/fixtures/models/expected-greedy.json")
    ap.add_argument("--model", action="append", default=[])
    args = ap.parse_args()
    specs = args.model or ["kjv-small:models/kjv-small", "kjv-tiny:models/kjv-tiny",
                           "llama-tiny:test/fixtures/models/llama-tiny"]
    torch.set_num_threads(2)

    chat_text = render_chat(CHAT)
    doc, tok0 = {"prompt": PROMPT, "newTokens": NEW_TOKENS}, None
    for spec in specs:
        name, d = spec.split(":", 1)
        tok = Tokenizer.load(os.path.join(d, "tokenizer.json"))
        prompt_ids, chat_ids = tok.encode(PROMPT), tok.encode(chat_text)
        if tok0 is None:
            tok0 = tok
            doc.update(promptIds=prompt_ids, chat={"messages": CHAT, "text": chat_text, "promptIds": chat_ids},
                       models={})
        assert prompt_ids == doc["promptIds"] and chat_ids == doc["chat"]["promptIds"], "tokenizers differ"
        with open(os.path.join(d, "config.json")) as f:
            kind = json.load(f)["model_type"]
        loader = gpt.load_checkpoint if kind == "gpt2" else llama_tiny.load_checkpoint
        model, _ = loader(os.path.join(args.build, name + ".pt"))
        out, m1 = greedy(model, prompt_ids, NEW_TOKENS)
        chat_out, m2 = greedy(model, chat_ids, NEW_TOKENS)
        doc["models"][name] = {
            "dir": d, "modelSha256": sha256(os.path.join(d, "model.onnx")),
            "greedyIds": out, "greedyText": tok.decode(out),
            "chatGreedyIds": chat_out, "chatGreedyText": tok.decode(chat_out),
            "minLogitMargin": round(min(m1, m2), 5),
        }
        print(f"{name}: {PROMPT}{tok.decode(out)!r}\n  chat -> {tok.decode(chat_out)!r}  (min margin {min(m1, m2):.4f})")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
