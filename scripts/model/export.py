"""Exports a trained checkpoint to ONNX with its tokenizer, configs and manifest.

The ONNX graph is the decoder layout of Hugging Face optimum and transformers.js
(one graph, opset 17, no constant folding, so the tied embedding is stored once):

  inputs   input_ids                      int64   [batch, seq]
           attention_mask                 int64   [batch, past + seq]
           position_ids                   int64   [batch, seq]
           past_key_values.{i}.key|value  float32 [batch, kv_heads, past, head_dim]
  outputs  logits                         float32 [batch, seq, vocab]
           present.{i}.key|value          float32 [batch, kv_heads, past + seq, head_dim]

batch, seq and past are dynamic; past may be 0 on the first step. Written to
OUT_DIR: model.onnx, tokenizer.json, tokenizer_config.json (with the chat
template), config.json, generation_config.json and manifest.json (SHA-256 of
every other file).

  /usr/bin/python3 scripts/model/export.py --checkpoint build/model/kjv-small.pt \
      --tokenizer build/model/tokenizer.json --name kjv-small --out-dir models/kjv-small
"""
import argparse
import hashlib
import json
import os
import shutil

import onnx
import torch

from model import load_checkpoint
from tokenizer import EOS, Tokenizer, tokenizer_config

FILES = ["model.onnx", "tokenizer.json", "config.json", "tokenizer_config.json", "generation_config.json"]


class DecoderIO(torch.nn.Module):
    """Flat ONNX-style signature around a model whose forward is
    (input_ids, attention_mask, position_ids, past) -> (logits, [(key, value), ...])."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *flat_past):
        past = [(flat_past[i], flat_past[i + 1]) for i in range(0, len(flat_past), 2)]
        logits, presents = self.model(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


def export_decoder(model, path, n_layer, kv_heads, head_dim):
    """Traces model into path with the IO layout above."""
    B, T, P = 2, 3, 4  # any sizes other than 1 keep every axis symbolic
    ids = torch.randint(0, 100, (B, T))
    mask = torch.ones(B, P + T, dtype=torch.long)
    pos = torch.arange(P, P + T)[None].expand(B, T).contiguous()
    past = [torch.zeros(B, kv_heads, P, head_dim) for _ in range(2 * n_layer)]
    inputs = ["input_ids", "attention_mask", "position_ids"]
    outputs = ["logits"]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    for i in range(n_layer):
        for kv in ("key", "value"):
            inputs.append(f"past_key_values.{i}.{kv}")
            outputs.append(f"present.{i}.{kv}")
            axes[inputs[-1]] = {0: "batch_size", 2: "past_sequence_length"}
            axes[outputs[-1]] = {0: "batch_size", 2: "total_sequence_length"}
    with torch.no_grad():
        torch.onnx.export(DecoderIO(model.eval()), (ids, mask, pos, *past), path, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, opset_version=17,
                          do_constant_folding=False)
    onnx.checker.check_model(onnx.load(path))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_model_dir(out_dir, name, architecture, config, tokenizer_path, params, context):
    """Writes everything but model.onnx (already there), then manifest.json."""
    tok = Tokenizer.load(tokenizer_path)
    eos = tok.special[EOS]
    shutil.copyfile(tokenizer_path, os.path.join(out_dir, "tokenizer.json"))
    write_json(os.path.join(out_dir, "config.json"),
               dict(config, bos_token_id=eos, eos_token_id=eos, torch_dtype="float32", use_cache=True))
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tokenizer_config(context))
    write_json(os.path.join(out_dir, "generation_config.json"),
               {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos})
    manifest = {
        "name": name,
        "architecture": architecture,
        "contextLength": context,
        "quantization": "fp32",
        # Cost of one token: about 2 x parameters floating-point operations, in thousands.
        "unitsPerToken": max(1, round(2 * params / 1000)),
        "chatTemplate": "tokenizer_config.json",
        "files": {f: sha256(os.path.join(out_dir, f)) for f in FILES},
    }
    write_json(os.path.join(out_dir, "manifest.json"), manifest)
    sizes = {f: os.path.getsize(os.path.join(out_dir, f)) for f in FILES + ["manifest.json"]}
    print(f"{out_dir}: {params} parameters, {sum(sizes.values())} bytes {sizes}")
    return manifest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()

    model, ck = load_checkpoint(args.checkpoint)
    c = model.config
    os.makedirs(args.out_dir, exist_ok=True)
    export_decoder(model, os.path.join(args.out_dir, "model.onnx"), c.n_layer, c.n_head, c.n_embd // c.n_head)
    hf_config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": c.vocab_size, "n_positions": c.n_positions, "n_ctx": c.n_positions,
        "n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head, "n_inner": 4 * c.n_embd,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
    }
    write_model_dir(args.out_dir, args.name, "gpt2", hf_config, args.tokenizer, model.num_params(), c.n_positions)


if __name__ == "__main__":
    main()
