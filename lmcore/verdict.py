"""Whether a finished run trained enough to be worth using: one rule, `barely_trained`.

A run is far from its model's reach when it made fewer than MIN_STEPS steps (the learning
rate has barely warmed up and decayed again), or when its validation loss is within 10% of
ln(vocabulary size), the loss of a model that guesses every token uniformly: it has learnt
almost nothing. The trainer puts the warning in its "done" line (lmcore/train.py); the web
keeps it on the run and its version and shows it wherever the model is used.
"""

from __future__ import annotations

import math

MIN_STEPS = 300  # fewer: barely trained, whatever the loss says
NEAR_CHANCE = 0.9  # a validation loss above this share of ln(vocabulary) learnt almost nothing


def barely_trained(
    *, steps: int, val_loss: float | None, vocab_size: int, reason: str, seconds: float,
    tokens_per_s: float, max_steps: int | None, max_seconds: float | None,
) -> str:  # fmt: skip
    """A plain warning (what, why, what to do), or "" for a run that trained enough.
    Example: barely_trained(steps=3, val_loss=8.6, vocab_size=6144, reason="max_seconds",
    seconds=30, tokens_per_s=75, max_steps=None, max_seconds=30) starts "Barely trained"."""
    chance = math.log(vocab_size)
    near = val_loss is not None and math.isfinite(val_loss) and val_loss >= NEAR_CHANCE * chance
    if steps >= MIN_STEPS and not near:
        return ""
    what = f"Barely trained: it made only {steps:,} steps"
    if near:
        what += (f" and its validation loss, {val_loss:.2f}, is within 10% of ln({vocab_size:,})"
                 f" = {chance:.2f}, what guessing every token at random scores")  # fmt: skip
    if reason == "cancelled":
        why, todo = "it was stopped early", "Resume it, or train again for longer."
    elif reason == "max_steps":
        why = f"its step limit was {max_steps:,}"
        todo = f"Train again with a step limit of a few thousand (at least {MIN_STEPS:,})."
    else:
        why = (f"its time limit of {max_seconds or seconds:,.0f} s allowed only that at "
               f"{tokens_per_s:,.0f} tokens/s: the limit is too short for this model, or the "
               "machine was busy (other runs, the playground or other programs on the same "
               "cores slow training down several times)")  # fmt: skip
        todo = "Train again with more time or a smaller preset, when the machine is quieter."
    return f"{what}, because {why}. Its output will read as noise. {todo}"
