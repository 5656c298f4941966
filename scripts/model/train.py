"""Trains the GPT-2-style model of model.py on the KJV corpus, on the CPU.

Data: the corpus from corpus.sh, split into chapters; every 20th chapter
(index % 20 == 10) is held out for evaluation. Each training chapter becomes
its verses joined by newlines followed by <|endoftext|>. A fraction of verse
pairs (--chat-fraction) is also added in chat form, rendered with the chat
template: a user message holding one verse, the assistant answering with the
next verse, so that the chat template gives sensible continuations.
Training samples random windows of --ctx tokens from that stream.

Deterministic for a given seed, step count and thread count: the run is step
based (--steps, with warmup and cosine decay); --max-minutes only stops a run
early as a safety limit (recorded in the checkpoint).

  /usr/bin/python3 scripts/model/train.py --corpus build/model/kjv.txt \
      --tokenizer build/model/tokenizer.json --out build/model/kjv-small.pt \
      --n-layer 4 --n-embd 256 --n-head 4 --steps 700 --max-minutes 25

Needs python3-torch with libopenblas0-pthread installed (20x faster matmuls).
"""
import argparse
import json
import math
import random
import time

import torch
import torch.nn.functional as F

from model import GPT, GPTConfig, config_dict
from tokenizer import Tokenizer, render_chat


def build_data(corpus, tok, chat_fraction, seed):
    with open(corpus, encoding="utf-8") as f:
        chapters = [c.strip("\n") for c in f.read().split("\n\n")]
    rng = random.Random(seed)
    train, held, n_chat = [], [], 0
    for i, chapter in enumerate(chapters):
        ids = tok.encode(chapter) + [tok.eos_id]
        if i % 20 == 10:
            held += ids
            continue
        train += ids
        verses = chapter.split("\n")
        for a, b in zip(verses, verses[1:]):
            if rng.random() < chat_fraction:
                chat = render_chat([{"role": "user", "content": a}, {"role": "assistant", "content": b}], False)
                train += tok.encode(chat)
                n_chat += 1
    return torch.tensor(train), torch.tensor(held), n_chat


@torch.no_grad()
def evaluate(model, held, ctx, max_windows=None, batch=16):
    """Mean next-token loss over consecutive non-overlapping windows of the held-out stream."""
    model.eval()
    n = (len(held) - 1) // ctx
    if max_windows:
        n = min(n, max_windows)
    total, count = 0.0, 0
    for s in range(0, n, batch):
        idx = torch.arange(s, min(n, s + batch))[:, None] * ctx + torch.arange(ctx + 1)[None]
        w = held[idx]
        logits, _ = model(w[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction="sum").item()
        count += w[:, 1:].numel()
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=256)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--chat-fraction", type=float, default=0.05)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop early after this much training time")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tok = Tokenizer.load(args.tokenizer)
    train, held, n_chat = build_data(args.corpus, tok, args.chat_fraction, args.seed)
    print(f"data: {len(train)} training tokens ({n_chat} chat pairs), {len(held)} held-out tokens", flush=True)

    cfg = GPTConfig(vocab_size=len(tok.vocab), n_positions=args.ctx, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd)
    model = GPT(cfg)
    print(f"model: {cfg} {model.num_params()} parameters", flush=True)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        t = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

    gen = torch.Generator().manual_seed(args.seed)
    start = time.time()
    step, loss_avg, history = 0, None, []
    stopped_early = False
    while step < args.steps:
        if args.max_minutes and time.time() - start > args.max_minutes * 60:
            stopped_early = True
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        off = torch.randint(0, len(train) - args.ctx - 1, (args.batch,), generator=gen)
        w = train[off[:, None] + torch.arange(args.ctx + 1)[None]]
        logits, _ = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        el = time.time() - start
        if step % 10 == 0 or step == 1:
            print(f"step {step}/{args.steps} loss {loss_avg:.3f} lr {lr_at(step - 1):.2e} "
                  f"{step * args.batch * args.ctx / el:.0f} tok/s {el / 60:.1f} min", flush=True)
        if step % args.eval_every == 0:
            hl = evaluate(model, held, args.ctx, max_windows=64)
            history.append({"step": step, "train_loss": round(loss_avg, 4), "heldout_loss": round(hl, 4)})
            print(f"eval step {step}: held-out loss {hl:.3f} (64 windows)", flush=True)

    train_seconds = time.time() - start
    hl = evaluate(model, held, args.ctx)
    meta = {
        "steps": step, "stopped_early": stopped_early, "train_seconds": round(train_seconds, 1),
        "tokens_seen": step * args.batch * args.ctx, "train_tokens": len(train), "heldout_tokens": len(held),
        "chat_pairs": n_chat, "final_train_loss": round(loss_avg, 4), "heldout_loss": round(hl, 4),
        "params": model.num_params(), "args": vars(args), "history": history,
        "torch": torch.__version__,
    }
    torch.save({"config": config_dict(model), "model": model.state_dict(), "meta": meta}, args.out)
    print("done " + json.dumps({k: v for k, v in meta.items() if k not in ("args", "history")}), flush=True)


if __name__ == "__main__":
    main()
