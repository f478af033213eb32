"""LoRA: low-rank adapters on a GPT's block matrices, trained while the base weights stay frozen.

Each target matrix W (out x in) computes W x + s B A dropout(x), with A (r x in), B (out x r)
and s = alpha / r. A starts as nn.Linear's weight does (kaiming-uniform, a = sqrt(5)) and B as
zeros, so a fresh adapter computes exactly the base model. This is PEFT's LoRA, term for term:
the adapter's tensors are PEFT's `lora_A`/`lora_B` under other names (lmcore/adapters.py maps
them), so an exported adapter gives `peft` the logits lmcore computes.

Targets (lmcore/config.py, LORA_TARGETS) are named after Llama's matrices; lmcore stores keys
and values stacked in one matrix `attn.c_kv`, so "k" and "v" are two adapters on its two row
blocks (PEFT's k_proj and v_proj), each with its own A, B and dropout mask.

    add_adapter(model, LoRAConfig(r=8, alpha=16).resolved(model.config))  # base frozen
    ...train: only adapter_state(model)'s tensors have requires_grad...
    merge(model)  # W += s B A, back to a plain GPT (same state-dict names as before)

The adapter lives inside the model (an `AdaptedLinear` replaces each target `nn.Linear`, keeping
its `weight` Parameter), so training, evaluation, sampling, DDP and torch.compile see one
module as before, and a state dict holds the base weights under their usual names plus the
adapter's `...lora_A.<target>` / `...lora_B.<target>`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lmcore.config import LoRAConfig
from lmcore.errors import LmcoreError
from lmcore.model import GPT

# target -> (module inside a block, which row block of its output: (index, of how many))
PLACES = {"q": ("attn.c_q", (0, 1)), "k": ("attn.c_kv", (0, 2)), "v": ("attn.c_kv", (1, 2)),
          "o": ("attn.c_proj", (0, 1)), "gate": ("mlp.c_gate", (0, 1)),
          "up": ("mlp.c_fc", (0, 1)), "down": ("mlp.c_proj", (0, 1))}  # fmt: skip


class AdaptedLinear(nn.Module):
    """A bias-free Linear whose output rows, block by block, get s B A dropout(x) added.

    `blocks` splits the out_features rows into equal consecutive blocks (1 for most matrices,
    2 for c_kv: keys then values); `targets` names the adapted ones, by block index."""

    def __init__(self, base: nn.Linear, targets: dict[str, int], n_blocks: int, cfg: LoRAConfig):
        super().__init__()
        self.weight = base.weight  # the same Parameter: the base keeps its state-dict name
        self.weight.requires_grad_(False)
        out_features, in_features = self.weight.shape
        self.rows = out_features // n_blocks
        self.n_blocks, self.targets, self.scaling = n_blocks, targets, cfg.scaling
        device, dtype = self.weight.device, self.weight.dtype
        self.lora_A = nn.ParameterDict()
        self.lora_B = nn.ParameterDict()
        for name in targets:
            a = torch.empty(cfg.r, in_features, device=device, dtype=dtype)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # what nn.Linear(in, r) draws
            self.lora_A[name] = nn.Parameter(a)
            self.lora_B[name] = nn.Parameter(torch.zeros(self.rows, cfg.r, device=device,
                                                         dtype=dtype))  # fmt: skip
        self.dropout = nn.Dropout(cfg.dropout)  # one call per target: its own mask, as in PEFT

    def delta(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """s B A dropout(x): (..., in) -> (..., rows)."""
        return F.linear(F.linear(self.dropout(x), self.lora_A[name]), self.lora_B[name]) * (
            self.scaling
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight)  # (..., out)
        by_block = {block: name for name, block in self.targets.items()}
        parts = [self.delta(by_block[b], x) if b in by_block
                 else x.new_zeros(*x.shape[:-1], self.rows) for b in range(self.n_blocks)]  # fmt: skip
        return y + (parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1))  # (..., out)

    @torch.no_grad()
    def fold(self) -> None:
        """W += s B A on each adapted row block, in place (B A: (rows, r) @ (r, in))."""
        for name, block in self.targets.items():
            update = self.lora_B[name] @ self.lora_A[name] * self.scaling
            self.weight[block * self.rows : (block + 1) * self.rows] += update.to(self.weight.dtype)


def add_adapter(model: GPT, cfg: LoRAConfig) -> None:
    """Freeze every weight of `model`, then put a fresh adapter on `cfg`'s targets in every
    block (A drawn from torch's global generator: seed it for the same adapter on every rank)."""
    if has_adapter(model):
        raise LmcoreError("this model already carries a LoRA adapter: merge it first")
    cfg = cfg.resolved(model.config)
    model.requires_grad_(False)
    for block in model.blocks:
        modules: dict[str, dict[str, int]] = {}
        for target in cfg.targets:
            path, (index, _) = PLACES[target]
            modules.setdefault(path, {})[target] = index
        for path, targets in modules.items():
            parent, attr = block.get_submodule(path.split(".")[0]), path.split(".")[1]
            n_blocks = PLACES[next(iter(targets))][1][1]
            setattr(parent, attr, AdaptedLinear(getattr(parent, attr), targets, n_blocks, cfg))


def adapted(model: GPT) -> list[tuple[str, AdaptedLinear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AdaptedLinear)]


def has_adapter(model: GPT) -> bool:
    return bool(adapted(model))


def adapter_state(model: GPT) -> dict[str, torch.Tensor]:
    """The adapter's tensors only, on the CPU: `blocks.0.attn.c_kv.lora_A.k` (r, in), ..."""
    state = model.state_dict()
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items() if ".lora_" in k}


def load_adapter(model: GPT, tensors: dict[str, torch.Tensor]) -> None:
    """Copy saved adapter tensors into `model`'s adapter; strict about names and shapes."""
    expected = {k: v.shape for k, v in model.state_dict().items() if ".lora_" in k}
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise LmcoreError(
            f"the adapter does not fit its config (missing {missing[:4]}, extra {extra[:4]})"
        )
    wrong = [k for k, v in tensors.items() if v.shape != expected[k]]
    if wrong:
        raise LmcoreError(f"the adapter's {wrong[0]} has shape {tuple(tensors[wrong[0]].shape)}, "
                          f"not {tuple(expected[wrong[0]])}")  # fmt: skip
    model.load_state_dict(tensors, strict=False)


def num_adapter_params(model: GPT) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)


def param_counts(model: GPT) -> tuple[int, int]:
    """(the model's parameters, adapter left out; those training updates)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model.num_params() - num_adapter_params(model), trainable


@torch.no_grad()
def merge(model: GPT) -> None:
    """Fold every adapter into its base weight and put plain Linears back: a GPT whose state
    dict has exactly the base's names, computing what the adapted model computes."""
    for name, module in adapted(model):
        parent_name, _, attr = name.rpartition(".")
        module.fold()
        out_features, in_features = module.weight.shape
        plain = nn.Linear(in_features, out_features, bias=False, device="meta")  # no init
        plain.weight = module.weight  # the base's Parameter, now merged
        setattr(model.get_submodule(parent_name), attr, plain)
    model.requires_grad_(True)
