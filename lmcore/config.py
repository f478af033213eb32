"""Configurations as plain dataclasses: the model's shape and the training recipe.

Kept apart from model.py and train.py so that code which only describes or validates a run
(the web form, pre-launch estimates, presets) imports no torch: the web process stays small
and nothing that forks touches CUDA. model.py and train.py re-export these names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lmcore.errors import LmcoreError

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class GPTConfig:
    vocab_size: int
    context: int = 256  # longest sequence the model attends over (rotary table length)
    n_layer: int = 6
    n_head: int = 6
    n_kv_head: int | None = None  # None = n_head; fewer = grouped-query attention
    d_model: int = 384
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    tie_weights: bool = True  # share the embedding with the output layer (saves V x d params)
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        problems = []
        if min(self.vocab_size, self.context, self.n_layer, self.n_head, self.d_model) < 1:
            problems.append("vocab_size, context, n_layer, n_head and d_model must be positive")
        elif self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            problems.append(
                f"d_model {self.d_model} must split into {self.n_head} even-sized heads"
            )
        elif self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            problems.append(
                f"n_head {self.n_head} must be a multiple of n_kv_head {self.n_kv_head}"
            )
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def d_hidden(self) -> int:
        return int(self.mlp_ratio * self.d_model)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    batch_size: int = 32  # sequences per micro-batch, per process
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 3e-3
    min_lr_ratio: float = 0.0  # final learning rate / lr
    warmup_steps: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    max_steps: int | None = None
    max_seconds: float | None = None
    eval_every: int = 250  # steps between evaluations, samples and checkpoints
    eval_tokens: int | None = 32768  # periodic evals score this many tokens; the final, all
    log_every: int = 10  # steps between "step" events
    sample_prompts: list[str] = field(default_factory=lambda: ["\n", "The "])
    sample_tokens: int = 48
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda
    compile: bool = False  # torch.compile the model (CUDA; needs a C++ toolchain on CPU)

    def validate(self) -> None:
        positive = ("batch_size", "grad_accum", "eval_every", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise LmcoreError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise LmcoreError(f"lr must be positive (got {self.lr}), min_lr_ratio in [0, 1]")
        if self.max_steps is None and self.max_seconds is None:
            raise LmcoreError("set a limit: max_steps and/or max_seconds")
        if (self.max_steps is not None and self.max_steps < 1) or (
            self.max_seconds is not None and not self.max_seconds > 0
        ):
            raise LmcoreError("max_steps and max_seconds must be positive")
        if self.device not in DEVICES:
            raise LmcoreError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
