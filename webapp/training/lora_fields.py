"""The fine-tune form's method: full (every weight) or LoRA (lmcore/lora.py: an adapter of
rank r on the chosen matrices, the weights frozen), with its settings and the trainable
parameters each choice gives. Validated by lmcore's own `LoRAConfig`, so the form and
`python -m lmcore train --lora-rank` refuse the same things with the same words."""

from __future__ import annotations

from typing import Any

from django import forms

from lmcore.config import LORA_TARGETS, GPTConfig, LoRAConfig
from lmcore.errors import LmcoreError
from lmcore.estimate import estimate_params

METHODS = [("full", "Full: train every weight"),
           ("lora", "LoRA: train a small adapter, the model's weights frozen")]  # fmt: skip
TARGET_LABELS = {"q": "q: queries (q_proj)", "k": "k: keys (k_proj)", "v": "v: values (v_proj)",
                 "o": "o: attention output (o_proj)", "gate": "gate: MLP gate (gate_proj)",
                 "up": "up: MLP input (up_proj)", "down": "down: MLP output (down_proj)"}  # fmt: skip
FIELD_WORDS = [("rank", "lora_rank"), ("alpha", "lora_alpha"), ("dropout", "lora_dropout"),
               ("target", "lora_targets")]  # fmt: skip


class LoRAFields(forms.Form):
    method = forms.ChoiceField(
        choices=METHODS, initial="full", widget=forms.RadioSelect, label="Method", required=False,
        help_text="LoRA stores only the adapter (a new version that needs this one) and trains "
        "far fewer weights; full training changes every weight. Blank: full.",
    )  # fmt: skip
    lora_rank = forms.IntegerField(
        required=False, min_value=1, max_value=256, initial=8, label="LoRA rank",
        help_text="LoRA only: the adapter's rank r (each matrix gets r × (inputs + outputs) "
        "weights).",
    )  # fmt: skip
    lora_alpha = forms.FloatField(
        required=False, min_value=0.01, max_value=10_000, label="LoRA alpha",
        help_text="LoRA only: the adapter's updates are scaled by alpha ÷ rank. Blank: 2 × rank.",
    )  # fmt: skip
    lora_dropout = forms.FloatField(
        required=False, min_value=0, max_value=0.9, initial=0.0, label="LoRA dropout",
        help_text="LoRA only: dropout on the adapter's input while training.",
    )  # fmt: skip
    lora_targets = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="LoRA matrices",
        choices=[(t, TARGET_LABELS[t]) for t in LORA_TARGETS],
        help_text="LoRA only: the matrices of every block that get an adapter.",
    )  # fmt: skip


def targets_of(model: GPTConfig | None) -> list[str]:
    """The matrices `model` has (a gate only in a gated MLP); every name when unknown."""
    return [t for t in LORA_TARGETS if model is None or t != "gate" or model.mlp == "swiglu"]


def setup(form: forms.Form, model: GPTConfig | None) -> None:
    """Offer the matrices the model has, all of them ticked to start with."""
    have = targets_of(model)
    field = form.fields["lora_targets"]
    field.choices, field.initial = [(t, TARGET_LABELS[t]) for t in have], have


def clean_lora(form: forms.Form, model: GPTConfig, version: Any) -> dict[str, Any] | None:
    """The run's `lora` (a resolved LoRAConfig as a dict), None for a full fine-tune; problems
    become errors on their fields."""
    data = form.cleaned_data
    if data.get("method") != "lora":
        return None
    if version.is_lora:
        form.add_error("method", "This version is a LoRA adapter itself: merge it into a plain "
                       "version first (Merge, on its page), or choose Full.")  # fmt: skip
        return None
    if data.get("lora_rank") is None:
        form.add_error("lora_rank", "Give the adapter's rank (8 is a good start).")
    if not data.get("lora_targets"):
        form.add_error("lora_targets", "Choose at least one matrix to adapt.")
    if data.get("lora_rank") is None or not data.get("lora_targets"):
        return None
    config = LoRAConfig(r=data["lora_rank"], alpha=data.get("lora_alpha"),
                        dropout=data.get("lora_dropout") or 0.0, targets=data["lora_targets"])  # fmt: skip
    try:
        return config.resolved(model).to_dict()
    except LmcoreError as exc:
        message = str(exc)
        form.add_error(next((f for w, f in FIELD_WORDS if w in message), None), message)
        return None


def estimate(model: GPTConfig | None) -> dict[str, Any]:
    """What the page needs to show trainable parameters as the fields change: the model's
    parameters, and per matrix the adapter weights per unit of rank (layers x (in + out))."""
    if model is None:
        return {}
    shapes = LoRAConfig(targets=targets_of(model)).shapes(model)
    per_rank = {t: model.n_layer * (i + o) for t, (i, o) in shapes.items()}
    return {"params": estimate_params(model), "per_rank": per_rank}


def trainable(model: GPTConfig, lora: dict[str, Any] | None) -> int:
    """Weights the run trains: the adapter's, or every one."""
    return LoRAConfig.from_dict(lora).num_params(model) if lora else estimate_params(model)
