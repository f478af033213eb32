"""Named model + training recipes (`--preset tiny|small|base`), and overrides on top of them.

A preset fixes the shape of the model, the training hyperparameters that suit that shape,
and the tokenizer vocabulary it was tuned with (the web UI proposes it when a user trains a
tokenizer for the preset; any vocabulary works, but the output layer's share of the compute
and the bytes each token covers both move with it). One table serves the CLI, the UI's
pre-launch estimates and the benchmarks, so a recipe changes in one place.

- tiny: ~0.64M parameters (197k of them the 2,048-token embedding), tuned for a 3-minute run
  on 2 CPU cores; its default limit is those
  3 minutes, and its learning rate decays against the clock (see lmcore/train.py). The recipe
  is bench/recipe.py's ablation (docs/benchmarks.md, "The tiny recipe").
- small: the nanoGPT Shakespeare size (6 x 6 heads x 384, context 256, dropout 0.2).
- base: GPT-2 small (12 x 12 heads x 768, context 1024), batch 0.5M tokens by accumulation.

All three train with Muon on the blocks' matrices and AdamW (`lr`) on the embeddings, and
hold the peak learning rate until a linear warmdown over the last 40% of the run
(lmcore/optim.py): the tiny ablation's winners. Tiny's vocabulary is 2,048: issue 18's ablation
chose 6,144 with a tokenizer that had read the validation tail; on the honest split (the tail
held out, lmcore/preparation.py) 2,048 gave 2.097 val bpb in 180 s against 6,144's 2.153. Its
width is 96 (3 heads of 32), not 128: twice, side by side, 2.098 against the 128-wide preset's
2.118 in 180 s, the one honest row that beat the preset by more than the noise (it trains ~55%
more steps). small and base inherit them untuned: their
AdamW rates are those they had for every weight. Fine-tuning (`init_from`) keeps AdamW and
the cosine schedule, the recipe bench/chat.py measured (`Preset.finetune`): Muon was not
ablated there.

None sets `eval_every`: each run evaluates about ten times whatever its limit (lmcore/config.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmcore.config import GPTConfig, TrainConfig
from lmcore.errors import LmcoreError


@dataclass(frozen=True)
class Preset:
    description: str
    vocab_size: int  # recommended tokenizer vocabulary
    model: dict[str, Any] = field(default_factory=dict)  # GPTConfig fields but vocab_size
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides
    # What a fine-tuning run (init_from set) changes in `train`, before the caller's overrides.
    finetune: dict[str, Any] = field(default_factory=lambda: dict(FINETUNE))


FINETUNE = dict(optimizer="adamw", warmdown=None)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        description="~0.6M parameters: a few minutes on a laptop CPU",
        vocab_size=2048,
        model=dict(context=128, n_layer=4, n_head=3, d_model=96),
        train=dict(
            batch_size=8,
            optimizer="muon",
            muon_lr=0.02,
            lr=6e-3,
            warmdown=0.4,
            warmup_steps=50,
            max_seconds=180.0,
            eval_tokens=8192,
            log_every=10,
        ),
        finetune=dict(FINETUNE, lr=2e-3),
    ),
    "small": Preset(
        description="~10M parameters (nanoGPT's Shakespeare model): minutes on a GPU",
        vocab_size=2048,
        model=dict(context=256, n_layer=6, n_head=6, d_model=384, dropout=0.2, tie_weights=False),
        train=dict(
            batch_size=64,
            optimizer="muon",
            muon_lr=0.02,
            lr=1e-3,
            warmdown=0.4,
            warmup_steps=100,
            beta2=0.99,
            max_steps=2500,
            eval_tokens=None,
            log_every=10,
        ),
    ),
    "base": Preset(
        description="~124M parameters (GPT-2 small): hours on a GPU",
        vocab_size=32768,
        model=dict(context=1024, n_layer=12, n_head=12, d_model=768, tie_weights=False),
        train=dict(
            batch_size=16,
            grad_accum=32,
            optimizer="muon",
            muon_lr=0.02,
            lr=6e-4,
            warmdown=0.4,
            min_lr_ratio=0.1,
            warmup_steps=700,
            beta2=0.95,
            max_steps=20000,
            eval_tokens=1 << 20,
            log_every=10,
        ),
    ),
}


def configs_from_preset(
    name: str, vocab_size: int, model: dict[str, Any] | None = None, **train: Any
) -> tuple[GPTConfig, TrainConfig]:
    """A preset's configs with overrides (None values are ignored).

    Giving either limit (max_steps, max_seconds) replaces both of the preset's limits.
    Example: `configs_from_preset("tiny", 2048, {"d_model": 192}, lr=1e-3)`.
    """
    if name not in PRESETS:
        raise LmcoreError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    model_kw = {**preset.model, **{k: v for k, v in (model or {}).items() if v is not None}}
    train = {k: v for k, v in train.items() if v is not None}
    defaults = dict(preset.train)
    if train.get("init_from"):
        defaults.update(preset.finetune)
    if "max_steps" in train or "max_seconds" in train:
        defaults.pop("max_steps", None), defaults.pop("max_seconds", None)
    train_kw = {**defaults, **train}
    try:
        model_config = GPTConfig(vocab_size=vocab_size, **model_kw)
    except ValueError as exc:
        raise LmcoreError(f"bad model size: {exc}") from None
    train_config = TrainConfig(**train_kw)
    train_config.validate()
    return model_config, train_config
