"""Configurations as plain dataclasses: the model's shape, the training recipe, sampling.

Kept apart from model.py and train.py so that code which only describes or validates a run
(the web forms, the playground's message checks, pre-launch estimates, presets) imports no torch: the web process stays small
and nothing that forks touches CUDA. model.py, train.py and sampling.py re-export them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lmcore.errors import LmcoreError

DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adamw", "muon")  # lmcore/optim.py
MLP_KINDS = ("relu2", "swiglu")
CHECKPOINT_SUBDIR = "checkpoint"  # a run directory's latest checkpoint: RUN/checkpoint/
EVALS_PER_RUN = 10  # periodic evaluations when eval_every is None (the final one comes on top)
# LoRA's targets (lmcore/lora.py), by the names of Llama's and PEFT's matrices without "_proj":
# q: attn.c_q, k and v: the key and value rows of attn.c_kv, o: attn.c_proj, gate: mlp.c_gate,
# up: mlp.c_fc, down: mlp.c_proj. PEFT's names are accepted too ("q_proj", ..., and NanoChat's
# "fc1" = up, "fc2" = down).
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
LORA_ALIASES = {**{f"{t}_proj": t for t in LORA_TARGETS}, "fc1": "up", "fc2": "down"}


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
    # Architecture options, added for imported models (docs/architecture.md, "Model
    # architecture options"). Each default is the block lmcore always had, so a checkpoint
    # saved before an option existed loads and computes exactly as it did.
    norm_eps: float | None = None  # RMSNorm epsilon; None: the dtype's machine epsilon
    norm_gain: bool = False  # a learned per-channel gain in every RMSNorm (Llama)
    embed_norm: bool = True  # RMS-normalise the token embeddings before the first block
    qk_norm: bool = True  # RMS-normalise queries and keys after the rotation
    mlp: str = "relu2"  # "relu2": proj(relu(fc x)^2); "swiglu": proj(silu(gate x) * fc x)
    mlp_hidden: int | None = None  # the MLP's width; None: mlp_ratio x d_model
    rope_sign: int = -1  # -1 turns each channel pair by -angle (nanochat); +1 by +angle (Llama)
    logit_softcap: float | None = None  # logits -> cap * tanh(logits / cap); None: off

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
        if self.mlp not in MLP_KINDS:
            problems.append(f"mlp must be one of {', '.join(MLP_KINDS)}, not {self.mlp!r}")
        if self.rope_sign not in (-1, 1):
            problems.append(f"rope_sign must be -1 or 1, not {self.rope_sign}")
        if self.mlp_hidden is not None and self.mlp_hidden < 1:
            problems.append(f"mlp_hidden must be positive, not {self.mlp_hidden}")
        if (self.norm_eps is not None and not self.norm_eps > 0) or (
            self.logit_softcap is not None and not self.logit_softcap > 0
        ):
            problems.append("norm_eps and logit_softcap must be positive (or None)")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def d_hidden(self) -> int:
        return self.mlp_hidden or int(self.mlp_ratio * self.d_model)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoRAConfig:
    """A LoRA adapter (lmcore/lora.py): W x + (alpha / r) B A dropout(x) on each target matrix
    of every block. `targets` None: every target the model has (no "gate" without swiglu)."""

    r: int = 8
    alpha: float | None = None  # None: 2 x r (scaling 2)
    dropout: float = 0.0
    targets: list[str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoRAConfig:
        """From a run file's or a checkpoint's "lora" object (other keys, e.g. the base's
        reference, are left out). Example: `LoRAConfig.from_dict({"r": 4, "targets": ["q"]})`."""
        if not isinstance(data, dict):
            raise LmcoreError('lora must be a JSON object: {"r", "alpha", "dropout", "targets"}')
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def scaling(self) -> float:
        return (2.0 * self.r if self.alpha is None else self.alpha) / self.r

    def resolved(self, model: GPTConfig) -> LoRAConfig:
        """Validated against `model`, with the targets spelled out in lmcore's names and order."""
        problems = []
        if isinstance(self.r, bool) or not isinstance(self.r, int) or not 1 <= self.r <= 4096:
            problems.append(f"LoRA rank must be a whole number from 1 to 4096, not {self.r!r}")
        alpha = self.alpha if self.alpha is not None else 2 * (self.r if not problems else 1)
        number = isinstance(alpha, int | float) and not isinstance(alpha, bool)
        if not number or not 0 < alpha <= 1e6:
            problems.append(f"LoRA alpha must be a number above 0, not {self.alpha!r}")
        if not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            problems.append(f"LoRA dropout must be in [0, 1), not {self.dropout!r}")
        have = [t for t in LORA_TARGETS if t != "gate" or model.mlp == "swiglu"]
        wanted = have if self.targets is None else self.targets
        if isinstance(wanted, str) or not all(isinstance(t, str) for t in wanted):
            problems.append("LoRA targets must be a list of names")
            wanted = []
        names = [LORA_ALIASES.get(t, t) for t in wanted]
        unknown = [t for t, n in zip(wanted, names, strict=True) if n not in have]
        if unknown:
            problems.append(f"LoRA targets {', '.join(map(repr, unknown))}: this model's "
                            f"matrices are {', '.join(have)}")  # fmt: skip
        elif not names:
            problems.append("LoRA needs at least one target matrix")
        if problems:
            raise LmcoreError("; ".join(problems))
        targets = [t for t in LORA_TARGETS if t in names]
        return LoRAConfig(self.r, float(alpha), float(self.dropout), targets)

    def shapes(self, model: GPTConfig) -> dict[str, tuple[int, int]]:
        """(in, out) features of each target matrix of one block."""
        d, q, kv, hidden = model.d_model, model.n_head * model.head_dim, (
            model.n_kv_head * model.head_dim), model.d_hidden  # fmt: skip
        every = {"q": (d, q), "k": (d, kv), "v": (d, kv), "o": (q, d), "gate": (d, hidden),
                 "up": (d, hidden), "down": (hidden, d)}  # fmt: skip
        return {t: every[t] for t in self.resolved(model).targets}

    def num_params(self, model: GPTConfig) -> int:
        """Trainable parameters: A (r x in) and B (out x r) per target, per block."""
        per_block = sum(self.r * (i + o) for i, o in self.shapes(model).values())
        return model.n_layer * per_block

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainConfig:
    batch_size: int = 32  # sequences per micro-batch, per process
    grad_accum: int = 1  # micro-batches per optimizer step
    # "adamw": AdamW on every weight at `lr`. "muon": Muon at `muon_lr` on the blocks' matrices,
    # AdamW at `lr` on the rest (lmcore/optim.py). The default is the recipe of runs saved
    # before "muon" existed, so they resume as they were; the presets choose.
    optimizer: str = "adamw"
    lr: float = 3e-3
    muon_lr: float = 0.02
    min_lr_ratio: float = 0.0  # final learning rate / lr
    warmup_steps: int = 50
    # None: cosine decay over the whole run; a fraction f: hold the peak, then decay linearly
    # over the last f of the run (lmcore/optim.py, lr_factor).
    warmdown: float | None = None
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    max_steps: int | None = None
    max_seconds: float | None = None
    # Steps between evaluations, samples and checkpoints; None: EVALS_PER_RUN of them, spread
    # by progress, so a 30-second run shows validation as often as a 3-hour one.
    eval_every: int | None = None
    eval_tokens: int | None = 32768  # periodic evals score this many tokens; the final, all
    log_every: int = 10  # steps between "step" events
    sample_prompts: list[str] = field(default_factory=lambda: ["\n", "The "])
    sample_tokens: int = 48
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda
    compile: bool = False  # torch.compile the model (CUDA; needs a C++ toolchain on CPU)
    # The token every document starts with (lmcore/documents.py); set by training from the
    # encoded data. None: a model trained before document boundaries.
    bos_token: str | None = None
    # Fine-tuning (lmcore/finetune.py): the parent checkpoint whose weights the run starts
    # from, whether it trains on conversations (set by training), and the share of batch rows
    # drawn from text corpora instead of conversations.
    init_from: str | None = None
    chat: bool = False
    text_ratio: float = 0.0
    # LoRA fine-tuning (lmcore/lora.py): a LoRAConfig as a dict; None trains every weight.
    lora: dict[str, Any] | None = None

    def validate(self) -> None:
        positive = ("batch_size", "grad_accum", "eval_every", "log_every")
        for name in positive:
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise LmcoreError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.lr > 0 or not self.muon_lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise LmcoreError(
                f"lr and muon_lr must be positive (got {self.lr}, {self.muon_lr}), "
                "min_lr_ratio in [0, 1]"
            )
        if self.optimizer not in OPTIMIZERS:
            raise LmcoreError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}"
            )
        if self.warmdown is not None and not 0 < self.warmdown <= 1:
            raise LmcoreError(f"warmdown must be in (0, 1] (or None), not {self.warmdown}")
        if self.max_steps is None and self.max_seconds is None:
            raise LmcoreError("set a limit: max_steps and/or max_seconds")
        if (self.max_steps is not None and self.max_steps < 1) or (
            self.max_seconds is not None and not self.max_seconds > 0
        ):
            raise LmcoreError("max_steps and max_seconds must be positive")
        if not 0.0 <= self.text_ratio < 1.0:
            raise LmcoreError(f"text_ratio must be in [0, 1), not {self.text_ratio}")
        if self.device not in DEVICES:
            raise LmcoreError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.lora is not None and not self.init_from:
            raise LmcoreError("LoRA adapts a trained model: give the checkpoint to start from")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


MAX_TOP_K = 2**63 - 1  # what a torch.long holds; any k at or above the vocabulary keeps all
# The penalty is applied in float32 (lmcore/sampling.py): near 0 or infinity it turns logits
# into infinities and NaN; a factor of 100 either way is far past any useful penalty (1 to 2).
MIN_PENALTY, MAX_PENALTY = 0.01, 100.0
MAX_NEW_TOKENS = 4096  # per request; the web app may pass a lower cap to validate()
MAX_TOP_LOGPROBS = 20
MIN_TEMPERATURE = 0.01
MAX_STOP_STRINGS, MAX_STOP_CHARS = 8, 64
# Seeds travel as JSON numbers (the playground's socket, saved conversations, the API's int
# `seed`), which browsers read as doubles: exact up to 2^53 - 1, rounded above. So a seed the
# page shows can be typed back and give the same text.
MAX_SEED = 2**53 - 1


@dataclass
class SamplingParams:
    """What one generation request asks for; `validate()` before use (the CLI and the web
    app share it)."""

    max_new_tokens: int = 256
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # keep the k most likely tokens; 0 = off
    top_p: float = 1.0  # keep the smallest set with probability mass >= top_p; 1 = off
    repetition_penalty: float = 1.0  # CTRL-style, on every token already in the sequence; 1 = off
    seed: int | None = None  # None: the engine picks one and reports it
    stop: list[str] = field(default_factory=list)  # end when the text contains one of these
    top_logprobs: int = 0  # alternatives reported per token, up to MAX_TOP_LOGPROBS
    # End at the model's end token (end of text; in chat, end of turn). Off: the token is
    # shown as its marker text and generation goes on into the next document.
    stop_at_end_of_text: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingParams:
        """Settings from JSON (the playground's "params"), type-checked; then `validate()`.

        Example: `SamplingParams.from_dict({"temperature": 0.7, "stop": ["\\n"]})`.
        """
        kinds = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(kinds))
        if unknown:
            raise LmcoreError(f"unknown sampling settings: {', '.join(unknown)}")
        for name, value in data.items():
            kind = kinds[name]  # "int", "int | None", "float", "bool" or "list[str]"
            number = isinstance(value, int | float) and not isinstance(value, bool)
            ok = (
                (value is None and "None" in kind)
                or (kind.startswith("int") and number and isinstance(value, int))
                or (kind == "float" and number)
                or (kind == "bool" and isinstance(value, bool))
                or (isinstance(value, list) and all(isinstance(v, str) for v in value)
                    and kind == "list[str]")
            )  # fmt: skip
            if not ok:
                raise LmcoreError(f"sampling setting {name} must be {kind}, not {value!r}")
        return cls(**data)

    def validate(self, max_new_tokens_cap: int = MAX_NEW_TOKENS) -> None:
        """Raise LmcoreError naming the first setting out of range."""
        problems = self.problems(max_new_tokens_cap)
        if problems:
            name, why = next(iter(problems.items()))
            raise LmcoreError(f"{name} {why}")

    def problems(self, max_new_tokens_cap: int = MAX_NEW_TOKENS) -> dict[str, str]:
        """Each setting out of range, by field name, with what it must be: the one rule for
        every caller (a caller with other field names, the web API, renames the keys).

        Example: `SamplingParams(top_p=0).problems() == {"top_p": "must be in (0, 1], not 0"}`.
        """
        t, penalty, cap = self.temperature, self.repetition_penalty, max_new_tokens_cap
        checks = [
            ("max_new_tokens", 1 <= self.max_new_tokens <= cap,
             f"must be between 1 and {cap}, not {self.max_new_tokens}"),
            # Below MIN_TEMPERATURE the scaled logits overflow; it is greedy in all but name.
            ("temperature", math.isfinite(t) and (t == 0 or t >= MIN_TEMPERATURE),
             f"must be 0 (greedy) or at least {MIN_TEMPERATURE}, not {t}"),
            ("top_k", 0 <= self.top_k <= MAX_TOP_K,
             f"must be 0 (off) or more (at most {MAX_TOP_K}), not {self.top_k}"),
            ("top_p", 0 < self.top_p <= 1, f"must be in (0, 1], not {self.top_p}"),
            ("repetition_penalty", MIN_PENALTY <= penalty <= MAX_PENALTY,
             f"must be from {MIN_PENALTY:g} to {MAX_PENALTY:g}, not {penalty}"),
            ("seed", self.seed is None or 0 <= self.seed <= MAX_SEED,
             f"must be between 0 and {MAX_SEED}, not {self.seed}"),
            ("top_logprobs", 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS,
             f"must be between 0 and {MAX_TOP_LOGPROBS}, not {self.top_logprobs}"),
            ("stop", len(self.stop) <= MAX_STOP_STRINGS,
             f"must hold at most {MAX_STOP_STRINGS} strings, not {len(self.stop)}"),
            ("stop", all(0 < len(s) <= MAX_STOP_CHARS for s in self.stop),
             f"strings must be 1 to {MAX_STOP_CHARS} characters long"),
        ]  # fmt: skip
        out: dict[str, str] = {}
        for name, ok, why in checks:
            if not ok:
                out.setdefault(name, why)
        return out
