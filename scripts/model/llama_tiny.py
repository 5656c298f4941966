"""A tiny Llama-family decoder with random weights, exported like the real ones.

It has what Llama, Qwen2 and Mistral share: RMSNorm, rotary position
embeddings computed from position_ids (the "rotate half" form of Hugging Face
transformers), grouped-query attention (4 query heads sharing 2 key/value
heads; the cache holds the 2 key/value heads, keys after rotation), a SwiGLU
MLP, no biases, and an untied lm_head. Weights are random (seeded); it uses
the same tokenizer.json as the KJV models. The export has the IO layout of
export.py, with num_key_value_heads heads in past and present.

  /usr/bin/python3 scripts/model/llama_tiny.py --tokenizer build/model/tokenizer.json \
      --out-dir test/fixtures/models/llama-tiny --checkpoint build/model/llama-tiny.pt
"""
import argparse
import os
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from export import export_decoder, write_model_dir
from model import allowed_mask, attend


@dataclass
class LlamaConfig:
    vocab_size: int = 2048
    hidden_size: int = 64
    intermediate_size: int = 192
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 256
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kvh, self.d = c.num_attention_heads, c.num_key_value_heads, c.hidden_size // c.num_attention_heads
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.q_proj = nn.Linear(c.hidden_size, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.kvh * self.d, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.kvh * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, c.hidden_size, bias=False)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, allowed, past_k=None, past_v=None):
        B, T, _ = x.shape
        y = self.input_layernorm(x)
        q = self.q_proj(y).view(B, T, self.h, self.d).transpose(1, 2)
        k = self.k_proj(y).view(B, T, self.kvh, self.d).transpose(1, 2)
        v = self.v_proj(y).view(B, T, self.kvh, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        # Query head j uses key/value head j // (h / kvh).
        rep = self.h // self.kvh
        ka = k.unsqueeze(2).expand(-1, -1, rep, -1, -1).reshape(B, self.h, -1, self.d)
        va = v.unsqueeze(2).expand(-1, -1, rep, -1, -1).reshape(B, self.h, -1, self.d)
        a = attend(q, ka, va, allowed, self.d ** -0.5).transpose(1, 2).reshape(B, T, self.h * self.d)
        x = x + self.o_proj(a)
        y = self.post_attention_layernorm(x)
        x = x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))
        return x, k, v


class Llama(nn.Module):
    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        d = c.hidden_size // c.num_attention_heads
        self.register_buffer("inv_freq", 1.0 / c.rope_theta ** (torch.arange(0, d, 2).float() / d), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                # A wider spread than training inits, so that greedy choices are not near-ties.
                nn.init.normal_(p, 0.0, 0.5 if name.startswith("lm_head") else 0.1)
            else:
                nn.init.normal_(p, 1.0, 0.1)  # RMSNorm scales: not all ones, so that they matter

    def num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids, attention_mask=None, position_ids=None, past=None):
        B, T = input_ids.shape
        past_len = past[0][0].shape[2] if past is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + T)[None].expand(B, T)
        k_len = attention_mask.shape[1] if attention_mask is not None else past_len + T
        allowed = allowed_mask(attention_mask, T, k_len)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat([freqs, freqs], dim=-1)[:, None]  # [B, 1, T, head_dim]
        cos, sin = emb.cos(), emb.sin()
        x = self.embed_tokens(input_ids)
        presents = []
        for i, layer in enumerate(self.layers):
            pk, pv = past[i] if past is not None else (None, None)
            x, k, v = layer(x, cos, sin, allowed, pk, pv)
            presents.append((k, v))
        return self.lm_head(self.norm(x)), presents


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    model = Llama(LlamaConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--checkpoint", required=True, help="where to save the weights (for expected.py)")
    ap.add_argument("--seed", type=int, default=1611)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    c = LlamaConfig()
    model = Llama(c).eval()
    torch.save({"config": asdict(c), "model": model.state_dict(), "meta": {"seed": args.seed}}, args.checkpoint)
    os.makedirs(args.out_dir, exist_ok=True)
    d = c.hidden_size // c.num_attention_heads
    export_decoder(model, os.path.join(args.out_dir, "model.onnx"), c.num_hidden_layers, c.num_key_value_heads, d)
    hf_config = dict(asdict(c), architectures=["LlamaForCausalLM"], model_type="llama", head_dim=d,
                     hidden_act="silu", tie_word_embeddings=False, attention_bias=False, rope_scaling=None)
    write_model_dir(args.out_dir, "llama-tiny", "llama", hf_config, args.tokenizer, model.num_params(),
                    c.max_position_embeddings)


if __name__ == "__main__":
    main()
