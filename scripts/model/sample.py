"""Prints greedy and seeded sampled continuations from a trained checkpoint.

Sampling: temperature, then top-k, drawn with a seeded torch.Generator, so the
same seed gives the same text. Stops at <|endoftext|> or the context length.

  /usr/bin/python3 scripts/model/sample.py --checkpoint build/model/kjv-small.pt \
      --tokenizer build/model/tokenizer.json --prompt "In the beginning" --tokens 60
  (--chat wraps the prompt in the chat template as a user message)
"""
import argparse

import torch

from model import load_checkpoint
from tokenizer import Tokenizer, render_chat


@torch.no_grad()
def generate(model, ids, n, temperature=0.0, top_k=0, seed=0, eos=None):
    gen = torch.Generator().manual_seed(seed)
    n = min(n, model.config.n_positions - len(ids))
    logits, past = model(torch.tensor([ids]))
    out = []
    for _ in range(n):
        last = logits[0, -1]
        if temperature <= 0:
            t = int(last.argmax())
        else:
            last = last / temperature
            if top_k:
                kth = torch.topk(last, top_k).values[-1]
                last = last.masked_fill(last < kth, float("-inf"))
            t = int(torch.multinomial(torch.softmax(last, -1), 1, generator=gen))
        if t == eos:
            break
        out.append(t)
        logits, past = model(torch.tensor([[t]]), past=past)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--prompt", action="append", required=True)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=2, help="how many sampled continuations (seeds 1..N)")
    ap.add_argument("--chat", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, _ = load_checkpoint(args.checkpoint)
    tok = Tokenizer.load(args.tokenizer)
    for prompt in args.prompt:
        text = render_chat([{"role": "user", "content": prompt}]) if args.chat else prompt
        ids = tok.encode(text)
        print(f"=== {text!r}")
        print("greedy:", repr(tok.decode(generate(model, ids, args.tokens, eos=tok.eos_id))))
        for seed in range(1, args.seeds + 1):
            out = generate(model, ids, args.tokens, args.temperature, args.top_k, seed, tok.eos_id)
            print(f"sample T={args.temperature} k={args.top_k} seed={seed}:", repr(tok.decode(out)))


if __name__ == "__main__":
    main()
