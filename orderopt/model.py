"""A small decoder-only transformer (after nanoGPT's ``model.py``).

The sequence is ``x_0 .. x_{n-1} SEP y_{o_0} .. y_{o_{L-1}}``; the loss is taken on the ``y`` part
only. With ``target_index=True`` the model is also told, at each step, which canonical position
``o_t`` it must emit next, and, at each emitted token, which canonical position that token holds
(two learned embeddings). One model can then learn a mixture of orders: even a 1-layer model
finds ``y_{i-1}`` by content wherever it was emitted, which loss profiling relies on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ModelShape", "GPTConfig", "GPT"]


@dataclass(frozen=True)
class ModelShape:
    """Layer sizes of a model, independent of the task (presets name two: profile and final)."""

    n_layer: int
    n_head: int
    n_embd: int
    ffn: int
    dropout: float = 0.0


@dataclass
class GPTConfig:
    """Everything that fixes a model's parameter shapes (saved with checkpoints)."""
    vocab_size: int  # task tokens; the separator is token ``vocab_size``
    block_size: int  # input_length + 1 + L - 1
    length: int  # L, the size of the target-index table
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    ffn: int = 512
    dropout: float = 0.0
    bias: bool = True
    target_index: bool = False


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` whose parameter gradients do not depend on the number of CPU threads.

    The fused CPU kernel sums the weight and bias gradients over rows in per-thread chunks, so a
    1-thread and a 2-thread training drift apart (~1e-9 per step); normalising without the affine
    part and applying it as a broadcast multiply-add leaves those sums to the same reduction as
    ``nn.Linear``'s bias, which is thread-invariant. With :class:`Head`, parallel trainings
    (:mod:`orderopt.training_pool`) then give the numbers of one training after another."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        if self.weight is not None:
            y = y * self.weight
        return y + self.bias if self.bias is not None else y


class Head(nn.Linear):
    """The output projection (``nn.Linear`` without bias) with a weight gradient that does not
    depend on the number of CPU threads.

    ``F.linear`` takes the weight gradient as ``grad^T @ x``, a product with only ``vocab_size``
    rows and ``B*T`` terms per sum, which the CPU GEMM splits over the summed dimension when it
    has more threads (a 1-thread and a 2-thread training of the ``cpu`` model differ after one
    step). ``x @ W^T`` with ``W^T`` made contiguous gives autograd ``x^T @ grad`` instead (for a
    non-contiguous ``W^T`` it would keep the weight's layout and fall back to ``grad^T @ x``):
    ``n_embd`` rows, split over rows, the same sums in the same order for any thread count
    (tests/test_model.py checks it where the CPU's GEMM keeps such sums on one thread; AVX-512
    builds split every such sum over threads, and there no layer is thread-invariant)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t().contiguous()


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with the causal mask registered once (as nanoGPT)."""
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.explicit = False  # plain matmul attention: vmap-able (torch.func has no SDPA batching rule)
        mask = torch.ones(config.block_size, config.block_size, dtype=torch.bool).tril()
        self.register_buffer("causal_mask", mask, persistent=False)  # for the explicit path only

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values, each ``(B, heads, T, head size)``."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        return tuple(t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = y.shape
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, self.n_embd)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        T = x.shape[1]
        if self.explicit:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            mask = self.causal_mask[:T, :T]
            att = F.dropout(att.masked_fill(~mask, float("-inf")).softmax(dim=-1), self.dropout, self.training)
            y = att @ v
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )
        return self._out(y)

    def attend_after(self, x: torch.Tensor, k_prefix: torch.Tensor, v_prefix: torch.Tensor) -> torch.Tensor:
        """Attention of suffix rows ``x`` over a shared prefix (all of it) and themselves (causally).

        The prefix keys/values have ``B_p`` rows; suffix row ``r`` continues prefix row ``r % B_p``."""
        q, k, v = self.qkv(x)
        reps = x.shape[0] // k_prefix.shape[0]
        k = torch.cat([k_prefix.repeat(reps, 1, 1, 1), k], dim=2)
        v = torch.cat([v_prefix.repeat(reps, 1, 1, 1), v], dim=2)
        S, P = x.shape[1], k_prefix.shape[2]
        mask = torch.cat([torch.ones(S, P, dtype=torch.bool, device=x.device), self.causal_mask[:S, :S]], dim=1)
        return self._out(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


class MLP(nn.Module):
    """The feed-forward half of a block (GELU)."""
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.ffn, bias=config.bias)
        self.c_proj = nn.Linear(config.ffn, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each with a residual."""
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

    def forward_after(self, prefix: torch.Tensor, suffix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This block on a shared prefix and the suffix rows that continue it (see ``attend_after``)."""
        h = self.ln_1(prefix)
        _, k, v = self.attn.qkv(h)
        suffix = suffix + self.attn.attend_after(self.ln_1(suffix), k, v)
        prefix = prefix + self.attn(h)
        return prefix + self.mlp(self.ln_2(prefix)), suffix + self.mlp(self.ln_2(suffix))


class GPT(nn.Module):
    """Decoder-only transformer over input tokens, a separator and the targets in generation order."""
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size + 1, config.n_embd)  # + separator
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        # Target-index embeddings (index `length` = none, a zero vector): `next_index_emb` tells
        # each step which canonical position it emits next; `held_index_emb` tells each emitted
        # token which position it holds (the previous step's target index), so earlier states
        # can be found by content.
        self.next_index_emb = self.held_index_emb = None
        if config.target_index:
            self.next_index_emb = nn.Embedding(config.length + 1, config.n_embd, padding_idx=config.length)
            self.held_index_emb = nn.Embedding(config.length + 1, config.n_embd, padding_idx=config.length)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = Head(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2 scaled init of residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    def use_explicit_attention(self, on: bool = True) -> GPT:
        """Switch to matmul attention (needed under ``torch.func.vmap``)."""
        for m in self.modules():
            if isinstance(m, CausalSelfAttention):
                m.explicit = on
        return self

    def num_params(self) -> int:
        """Number of parameters (what the tables report as model size)."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        target_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, vocab)`` and, with ``targets`` (``-1`` = ignored), the mean loss."""
        T = idx.size(1)
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        if self.next_index_emb is not None and target_index is not None:
            current = F.pad(target_index[:, :-1], (1, 0), value=self.config.length)
            x = x + self.next_index_emb(target_index) + self.held_index_emb(current)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1)
        return logits, loss

    def forward_shared_prefix(
        self, prefix: torch.Tensor, suffix: torch.Tensor, target_index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(B, S, vocab)`` of the suffix positions of the sequences ``prefix + suffix``,
        where ``B = k * B_p`` suffix rows share ``B_p`` prefix rows (row ``r`` continues prefix row
        ``r % B_p``) and the prefix carries no target index (the task input ``x``).

        Same logits as :meth:`forward` on the concatenated sequences, but the prefix is computed
        once per prefix row instead of once per suffix row: scoring ``T`` orders on the same
        validation inputs then costs about half as much."""
        P, S = prefix.shape[1], suffix.shape[1]
        if P + S > self.config.block_size:
            raise ValueError(f"sequence of length {P + S} exceeds block_size {self.config.block_size}")
        device = prefix.device
        x_p = self.wte(prefix) + self.wpe(torch.arange(P, device=device))
        x_s = self.wte(suffix) + self.wpe(torch.arange(P, P + S, device=device))
        if self.next_index_emb is not None and target_index is not None:
            held = F.pad(target_index[:, :-1], (1, 0), value=self.config.length)
            x_s = x_s + self.next_index_emb(target_index) + self.held_index_emb(held)
        x_p, x_s = self.drop(x_p), self.drop(x_s)
        for block in self.blocks:
            x_p, x_s = block.forward_after(x_p, x_s)
        return self.lm_head(self.ln_f(x_s))
