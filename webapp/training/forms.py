"""The training form: a preset plus optional overrides, validated by lmcore's own configs."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from lmcore.config import DEVICES, GPTConfig, TrainConfig
from lmcore.errors import LmcoreError
from lmcore.estimate import estimate_params
from lmcore.presets import PRESETS, configs_from_preset
from webapp.corpora.forms import CorporaField
from webapp.corpora.models import Corpus
from webapp.limits import policy, storage
from webapp.tokenization.models import TokenizerRun
from webapp.training import capacity, lora_fields

MODEL_FIELDS = ("n_layer", "n_head", "d_model", "context", "dropout")
TRAIN_FIELDS = ("batch_size", "lr", "max_steps", "eval_every", "seed", "device")
# An lmcore message mentioning one of these words belongs on that field.
FIELD_WORDS = [("heads", "n_head"), ("n_head", "n_head"), ("d_model", "d_model"),
               ("dropout", "dropout"), ("context", "context"), ("batch_size", "batch_size"),
               ("lr", "lr"), ("max_steps", "max_steps"), ("eval_every", "eval_every")]  # fmt: skip


def _optional_int(
    low: int, high: int, help_text: str, label: str | None = None
) -> forms.IntegerField:
    return forms.IntegerField(
        required=False, min_value=low, max_value=high, help_text=help_text, label=label
    )


class TrainingRunForm(forms.Form):
    name = forms.SlugField(
        max_length=100, help_text="The model's name; each run of it adds a version."
    )
    corpora = CorporaField(queryset=Corpus.objects.none(), widget=forms.CheckboxSelectMultiple)
    tokenizer = forms.ModelChoiceField(queryset=TokenizerRun.objects.none())
    preset = forms.ChoiceField(
        choices=[(k, f"{k}: {p.description}") for k, p in PRESETS.items()], initial="tiny"
    )
    n_layer = _optional_int(1, 96, "Transformer blocks. Blank: the preset's.", "Layers")
    n_head = _optional_int(1, 64, "Must split the width into even-sized heads.", "Heads")
    d_model = _optional_int(8, 8192, "Width of the residual stream (d_model).", "Width")
    context = _optional_int(8, 8192, "Tokens the model attends over.")
    dropout = forms.FloatField(required=False, min_value=0, max_value=0.9)
    batch_size = _optional_int(1, 4096, "Sequences per micro-batch.")
    lr = forms.FloatField(required=False, min_value=1e-6, max_value=1.0, label="Learning rate")
    max_steps = _optional_int(1, 10_000_000, "Stop after this many optimizer steps.")
    max_minutes = forms.FloatField(required=False, min_value=0.05, max_value=7 * 24 * 60,
                                   help_text="Stop after this much wall-clock time.")  # fmt: skip
    eval_every = _optional_int(
        1, 1_000_000, "Steps between evaluations, samples and checkpoints. Blank: ten per run."
    )
    device = forms.ChoiceField(choices=[(d, d) for d in DEVICES], initial="auto")
    devices = forms.IntegerField(
        required=False, initial=1, min_value=1, max_value=1024, label="Processes",
        help_text="Devices training one model: GPUs, or CPU processes on a worker without "
        "GPUs. The batch is per process. Blank: 1.",
    )  # fmt: skip
    seed = forms.IntegerField(initial=1337, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ready = Corpus.objects.for_user(user).text().ready()
        self.fields["corpora"].queryset = ready
        self.fields["tokenizer"].queryset = TokenizerRun.objects.for_user(user).usable()
        self.configs: tuple[GPTConfig, TrainConfig] | None = None
        self.preset_defaults = {  # shown as placeholders: blank fields take these
            name: {**p.model, **p.train} for name, p in PRESETS.items()
        }
        self.user, self.limits = user, policy.limits_for(user)
        show_limits(self, self.limits, devices=True)

    def clean_devices(self) -> int:
        wanted, most = self.cleaned_data["devices"] or 1, capacity.max_devices()
        if problem := policy.devices_problem(wanted, self.limits):
            raise forms.ValidationError(problem)
        if wanted > most:
            raise forms.ValidationError(
                f"{wanted} devices requested, but the largest training worker has at most "
                f"{most} (BOTTEGA_TRAIN_DEVICES, or its GPUs or CPU cores)"
            )
        return wanted

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or not data.get("tokenizer"):
            return data
        model = {k: data.get(k) for k in MODEL_FIELDS}
        train = {k: data.get(k) for k in TRAIN_FIELDS}
        if data.get("max_minutes") is not None:
            train["max_seconds"] = data["max_minutes"] * 60
        try:
            vocab = data["tokenizer"].result["vocab_size"]
            self.configs = configs_from_preset(data["preset"], vocab, model, **train)
        except LmcoreError as exc:
            message = str(exc)
            field = next((f for word, f in FIELD_WORDS if word in message), None)
            self.add_error(field, message)
            return data
        check_limits(self, self.configs)
        return data

    def clean_max_minutes(self) -> float | None:
        return clean_minutes(self)


def show_limits(form: forms.Form, limits: policy.Limits, devices: bool = False) -> None:
    """The user's limits as the fields' `max` attributes and help, before anything is typed."""
    minutes = form.fields["max_minutes"]
    if limits.minutes is not None:
        minutes.widget.attrs["max"] = limits.minutes
        minutes.help_text += (
            f" At most {limits.minutes} (your limit); blank: the preset's limit, "
            f"at most {limits.minutes} minutes."
            if not minutes.required
            else f" At most {limits.minutes} (your limit)."
        )
    if devices and limits.devices is not None:
        form.fields["devices"].widget.attrs["max"] = limits.devices
        form.fields["devices"].help_text += f" At most {limits.devices} (your limit)."


def clean_minutes(form: Any) -> float | None:
    minutes = form.cleaned_data.get("max_minutes")
    if minutes is not None and (problem := policy.minutes_problem(minutes, form.limits)):
        raise forms.ValidationError(problem)
    return minutes


def check_limits(
    form: Any, configs: tuple[GPTConfig, TrainConfig], stored: int | None = None
) -> None:
    """The per-user limits on a run of this shape (webapp/limits/policy.py), as form errors;
    a run without a time limit, or a longer one than the user's, is given the user's.
    `stored`: the weights its checkpoint and version keep (a LoRA adapter's), if not all."""
    model_config, train_config = configs
    limits, params = form.limits, estimate_params(model_config)
    stored = params if stored is None else stored
    train_config.max_seconds = policy.time_budget(limits, train_config.max_seconds)
    problem = (
        policy.params_problem(params, limits)
        or policy.jobs_problem(form.user, limits)
        or storage.launch_problem(form.user, limits, storage.TRAINING_BYTES_PER_PARAM * stored)
    )
    if problem:
        form.add_error(None, problem)


class FineTuneForm(lora_fields.LoRAFields):
    """Fine-tune a version for chat: its weights, tokenizer and shape, new data and limits;
    every weight, or a LoRA adapter (webapp/training/lora_fields.py)."""

    field_order = ["datasets", "corpora", "text_ratio", "method", "lora_rank", "lora_alpha",
                   "lora_dropout", "lora_targets"]  # fmt: skip

    datasets = CorporaField(
        queryset=Corpus.objects.none(), widget=forms.CheckboxSelectMultiple,
        label="Conversation datasets",
        help_text="The conversations to learn from; the last 10% of each is held out.",
    )  # fmt: skip
    corpora = CorporaField(
        queryset=Corpus.objects.none(), widget=forms.CheckboxSelectMultiple, required=False,
        label="Text corpora to mix in (optional)",
    )  # fmt: skip
    text_ratio = forms.FloatField(
        min_value=0, max_value=0.9, initial=0, label="Text share of each batch",
        help_text="0 = conversations only; 0.2 = a fifth of the rows are text windows.",
    )  # fmt: skip
    lr = forms.FloatField(min_value=1e-6, max_value=1.0, initial=1e-3, label="Learning rate")
    max_minutes = forms.FloatField(min_value=0.05, max_value=7 * 24 * 60, initial=3,
                                   help_text="Stop after this much wall-clock time.")  # fmt: skip
    max_steps = _optional_int(1, 10_000_000, "Stop after this many steps (as well).")
    device = forms.ChoiceField(choices=[(d, d) for d in DEVICES], initial="auto")

    def __init__(self, *args: Any, user: Any, version: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mine = Corpus.objects.for_user(user).ready()
        self.fields["datasets"].queryset = mine.conversations()
        self.fields["corpora"].queryset = mine.text()
        self.version = version
        self.configs: tuple[GPTConfig, TrainConfig] | None = None
        self.user, self.limits = user, policy.limits_for(user)
        show_limits(self, self.limits)
        self.model = version_model(version)
        lora_fields.setup(self, self.model)

    def clean_max_minutes(self) -> float | None:
        return clean_minutes(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        problem = finetune_problem(self.version)
        if problem:
            raise forms.ValidationError(problem)
        if self.errors:
            return data
        if data.get("text_ratio") and not data.get("corpora"):
            self.add_error("corpora", "Choose the text corpora to mix in, or set the share to 0.")
            return data
        if self.model is None:
            raise forms.ValidationError("This version cannot be fine-tuned: its config.json is "
                                        "unreadable")  # fmt: skip
        lora = lora_fields.clean_lora(self, self.model, self.version)
        if self.errors:
            return data
        train = {"lr": data["lr"], "max_seconds": data["max_minutes"] * 60,
                 "max_steps": data.get("max_steps"), "device": data["device"],
                 "init_from": str(self.version.directory), "lora": lora,
                 "text_ratio": data["text_ratio"] if data.get("corpora") else 0.0}  # fmt: skip
        try:
            preset = self.version.run.preset if self.version.run else "tiny"
            _, train_config = configs_from_preset(preset, self.model.vocab_size, {}, **train)
        except LmcoreError as exc:
            raise forms.ValidationError(f"This version cannot be fine-tuned: {exc}") from None
        self.configs = (self.model, train_config)
        check_limits(self, self.configs, stored=lora_fields.trainable(self.model, lora))
        return data


def version_model(version: Any) -> GPTConfig | None:
    """The shape of a version's model, from its config.json; None when unreadable."""
    try:
        saved = json.loads((version.directory / "config.json").read_text("utf-8"))
        return GPTConfig(**saved["model"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finetune_problem(version: Any) -> str | None:
    """Why a version cannot be fine-tuned for chat, with how to fix it; None when it can: it
    needs a chat template that gives a loss mask (lmcore/chat.py, `finetune_start`), its own
    (an import's) or lmcore's layout (a tokenizer with lmcore's chat tokens)."""
    from lmcore.chat import finetune_start
    from lmcore.tokenizer import Tokenizer

    try:
        config = json.loads((version.directory / "config.json").read_text(encoding="utf-8"))
        finetune_start(config, Tokenizer.load(version.directory / "tokenizer.json"))
    except (OSError, ValueError) as exc:
        return f"This version's files cannot be read ({exc})."
    except LmcoreError as exc:
        return f"This version cannot be fine-tuned for chat: {exc}."
    return None
