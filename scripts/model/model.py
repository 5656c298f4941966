"""A GPT-2-style causal language model in PyTorch, with a key/value cache.

Pre-LayerNorm blocks, learned position embeddings, GELU (tanh form, as GPT-2),
token embedding tied to the output projection. `forward` takes the same inputs
as the exported ONNX graph (input_ids, attention_mask, position_ids, past keys
and values) so the export is this module traced as it is. Used by train.py,
export.py, sample.py and expected.py; not run on its own.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 2048
    n_positions: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256


def allowed_mask(attention_mask, q_len, k_len):
    """Bool [B|1, 1, q_len, k_len]: the queries are the last q_len of the k_len positions;
    each attends to itself, earlier positions, and only where attention_mask is 1."""
    k_pos = torch.arange(k_len)
    q_pos = torch.arange(q_len) + (k_len - q_len)
    allowed = (k_pos[None, :] <= q_pos[:, None])[None, None]
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, None, :].bool()
    return allowed


def attend(q, k, v, allowed, scale):
    """Softmax attention; q [B,H,T,D], k and v [B,H,S,D], allowed [B|1,1,T,S]."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.matmul(F.softmax(scores, dim=-1), v)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head = c.n_head
        self.scale = 1.0 / math.sqrt(c.n_embd // c.n_head)
        self.ln_1 = nn.LayerNorm(c.n_embd)
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.attn_proj = nn.Linear(c.n_embd, c.n_embd)
        self.ln_2 = nn.LayerNorm(c.n_embd)
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd)
        self.mlp_proj = nn.Linear(4 * c.n_embd, c.n_embd)

    def forward(self, x, allowed, past_k=None, past_v=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        y = attend(q, k, v, allowed, self.scale).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, k, v


class GPT(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.config = c
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.n_positions, c.n_embd)
        self.h = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids, attention_mask=None, position_ids=None, past=None):
        """Returns logits [B,T,V] and a list of (key, value) per layer, each [B,H,past+T,D].
        Without position_ids, positions continue from the past length."""
        B, T = input_ids.shape
        past_len = past[0][0].shape[2] if past is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + T)[None].expand(B, T)
        k_len = attention_mask.shape[1] if attention_mask is not None else past_len + T
        allowed = allowed_mask(attention_mask, T, k_len)
        x = self.wte(input_ids) + self.wpe(position_ids)
        presents = []
        for i, block in enumerate(self.h):
            pk, pv = past[i] if past is not None else (None, None)
            x, k, v = block(x, allowed, pk, pv)
            presents.append((k, v))
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return logits, presents


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    model = GPT(GPTConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


def config_dict(model):
    return asdict(model.config)
