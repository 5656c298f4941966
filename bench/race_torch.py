#!/usr/bin/env python3
"""A plain PyTorch baseline for the Race function's throughput (issue 11).

This is a THROUGHPUT BASELINE, NOT A CORRECTNESS CHECK: it runs the same shapes and the same
operations as the Race function (docs/race-function.md; src/race/reference.ts) for a profile, but
with random token inputs and random weights from torch's own generator, not the Race PRNG, and it
does not permute, centre or compare the logits with the target (that is O(V) per nonce, negligible
against the O(L·S·d·f) of the network). Its figure says what a straightforward PyTorch
implementation achieves on a device, so that `npm run bench:race` can put our WebGPU backend
against it in the same run.

Per nonce: embedding lookup of S tokens (V × d); L pre-norm layers, each
  A = rms(X); Q, K, V = A·Wq, A·Wk, A·Wv; causal softmax attention over h heads of d/h columns;
  X += O·Wo; X += relu(rms(X)·W1)·W2
then z = rms(X[S−1]) and logits = z·Wout (d × V). rms(v) = v / sqrt(mean(v²) + 1e-5), no gain.

Usage: race_torch.py [--network devnet|mainnet] [--device cuda|cpu] [--dtype fp32|tf32|bf16]
                     [--batch N] [--seconds S] [--layers L --width d --heads h --ffn f --vocab V --seq-len S]
The profile comes from the top-level `race` section of configs/<network>.json; any dimension given
on the command line overrides it. Prints one JSON line on stdout.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS = 1e-5
DIMS = [("layers", "layers"), ("width", "width"), ("heads", "heads"), ("ffn", "ffn"), ("vocab", "vocab"), ("seq_len", "seqLen")]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", default="mainnet", help="configs/<network>.json (default mainnet)")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["fp32", "tf32", "bf16"], default="fp32")
    p.add_argument("--batch", type=int, default=None, help="nonces per forward pass (default 1024 on cuda, 16 on cpu)")
    p.add_argument("--seconds", type=float, default=8.0, help="timed duration, after warm-up (at least one batch)")
    p.add_argument("--seed", type=int, default=1)
    for flag, _ in DIMS:
        p.add_argument("--" + flag.replace("_", "-"), type=int, default=None)
    return p.parse_args()


def load_profile(args):
    path = os.path.join(ROOT, "configs", f"{args.network}.json")
    profile = {}
    if os.path.exists(path):
        with open(path, encoding="utf8") as fh:
            profile = dict(json.load(fh).get("race", {}))
    for flag, key in DIMS:
        if getattr(args, flag) is not None:
            profile[key] = getattr(args, flag)
    missing = [key for _, key in DIMS if key not in profile]
    if missing:
        sys.exit(f"race_torch: no profile for {args.network!r} (missing {', '.join(missing)}): "
                 f"give --network with a configs/<network>.json or every dimension")
    if profile["width"] % profile["heads"] != 0:
        sys.exit("race_torch: width must be a multiple of heads")
    return profile


def flops_per_nonce(p):
    """Multiply-adds × 2 of one nonce, as src/race/profile.ts flopsPerNonce counts them."""
    S, d = p["seqLen"], p["width"]
    proj = 2 * S * (4 * d * d + 2 * d * p["ffn"])
    attn = 2 * 2 * S * S * d
    return p["layers"] * (proj + attn) + 2 * d * p["vocab"]


def make_weights(p, device, dtype, gen):
    """Uniform in ±√(3 / fanIn) (variance 1/fanIn) as the Race weights, but from torch's generator."""
    d, f, V = p["width"], p["ffn"], p["vocab"]

    def tensor(rows, cols, fan_in):
        w = torch.rand(rows, cols, device=device, generator=gen, dtype=torch.float32)
        w.mul_(2).sub_(1).mul_(math.sqrt(3 / fan_in))
        return w.to(dtype)

    layers = [
        dict(wq=tensor(d, d, d), wk=tensor(d, d, d), wv=tensor(d, d, d), wo=tensor(d, d, d),
             w1=tensor(d, f, d), w2=tensor(f, d, f))
        for _ in range(p["layers"])
    ]
    return tensor(V, d, 1), layers, tensor(d, V, d)


def rms(x):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS)


def causal_attention(q, k, v, mask):
    """q, k, v: [B, h, S, dh]. torch's fused kernel where it has one (torch >= 2.0)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(q.shape[-1])) + mask
    return torch.softmax(scores, dim=-1) @ v


def forward(tokens, embedding, layers, output, p, mask):
    """Logits [B, V] at the last position for tokens [B, S]."""
    B, S = tokens.shape
    d, h = p["width"], p["heads"]
    dh = d // h
    x = embedding[tokens]  # [B, S, d]
    for w in layers:
        a = rms(x)
        split = lambda t: t.view(B, S, h, dh).transpose(1, 2)  # noqa: E731
        o = causal_attention(split(a @ w["wq"]), split(a @ w["wk"]), split(a @ w["wv"]), mask)
        x = x + o.transpose(1, 2).reshape(B, S, d) @ w["wo"]
        x = x + torch.relu(rms(x) @ w["w1"]) @ w["w2"]
    return rms(x[:, -1, :]) @ output


def main():
    args = parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("race_torch: --device cuda but torch.cuda.is_available() is False")
    p = load_profile(args)
    batch = args.batch or (1024 if args.device == "cuda" else 16)
    device = torch.device(args.device)

    # fp32 means true fp32 matmuls: TF32 off, even where a torch version defaults it on.
    tf32 = args.dtype == "tf32"
    if hasattr(torch, "set_float32_matmul_precision"):
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32

    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    embedding, layers, output = make_weights(p, device, dtype, gen)
    S = p["seqLen"]
    mask = torch.full((S, S), float("-inf"), device=device, dtype=dtype).triu(1)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        tokens = torch.randint(0, p["vocab"], (batch, S), device=device, generator=gen)
        return forward(tokens, embedding, layers, output, p, mask)

    with torch.inference_mode():
        for _ in range(2):  # warm-up: kernel selection, allocator, caches
            step()
        sync()
        done = 0
        t0 = time.perf_counter()
        while done == 0 or time.perf_counter() - t0 < args.seconds:
            step()
            sync()  # each pass completes, as a racer's batch must before its distances are read
            done += batch
        elapsed = time.perf_counter() - t0

    print(json.dumps({
        "nonces_per_sec": round(done / elapsed, 3),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": args.dtype,
        "batch": batch,
        "gflop_per_nonce": round(flops_per_nonce(p) / 1e9, 6),
        "tflop_per_sec": round(done / elapsed * flops_per_nonce(p) / 1e12, 4),
        "network": args.network,
        "nonces": done,
        "seconds": round(elapsed, 3),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }), flush=True)


if __name__ == "__main__":
    main()
